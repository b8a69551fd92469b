"""Flood every descriptor the run inherited beyond stdio: a pipe back to the trusted side
(the warm runner's status report) would make its root reader buffer all of it, far past
the run's own memory limit."""
import os
import resource

from probe import ESCAPES, PARAMS, finish, report

chunk = b"x" * 65536
limit = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 16)
for fd in range(3, limit):
    try:
        os.fstat(fd)
    except OSError:
        continue
    written = 0
    try:
        while written < PARAMS["flood_bytes"]:
            written += os.write(fd, chunk)
    except OSError as err:
        report(f"fd {fd}", f"{type(err).__name__} after {written} bytes")
    if written:
        ESCAPES.append(f"flooded inherited fd {fd} with {written} bytes")
report("descriptors", "scanned")
finish()
