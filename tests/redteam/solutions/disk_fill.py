"""Fill the disk: many chunks in the working directory, a marker in /tmp and next to the
scratch copy, then one file past the file-size limit (sparse, so it costs no real space)."""
import os
from pathlib import Path

from probe import PARAMS, finish, report

print(f"SCRATCH {Path.cwd().parent.parent}", flush=True)
chunk = os.urandom(1 << 20) * 4
for index in range(PARAMS["chunks"]):
    Path(f"fill-{index}.bin").write_bytes(chunk)
report("filled", f"{PARAMS['chunks'] * 4} MiB in the working directory")
for marker in (Path("/tmp") / PARAMS["marker"], Path("../../..") / PARAMS["marker"]):
    try:
        marker.write_text("left behind")
        report(f"wrote {marker}", "ok (must not reach the host)")
    except OSError as err:
        report(f"write {marker}", type(err).__name__)
try:
    with open("huge.bin", "wb") as handle:
        handle.seek(PARAMS["beyond"])
        handle.write(b"x")
    report("file past the size limit", "WRITTEN")
except OSError as err:
    report("file past the size limit", f"{type(err).__name__}: {err.strerror}")
finish()
