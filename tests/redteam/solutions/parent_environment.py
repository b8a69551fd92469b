"""Read the evaluator's environment: our own variables, and /proc/<pid>/environ of every
process we can see (the parent first). attack.json holds SHA-256 digests of the evaluator's
``NAME=value`` entries (never the values themselves); an entry found with a matching digest
is a leak."""
import hashlib
import os

from probe import PARAMS, finish, leak, peek, report

wanted = set(PARAMS["entries"])


def found(entries: list[bytes]) -> list[str]:
    return [entry.split(b"=")[0].decode(errors="replace") for entry in entries if hashlib.sha256(entry).hexdigest() in wanted]


for name in found([f"{key}={value}".encode() for key, value in os.environ.items()]):
    leak(f"inherited {name}")
pids = sorted((int(p) for p in os.listdir("/proc") if p.isdigit()), key=lambda pid: pid != os.getppid())
report("visible processes", len(pids))
for pid in pids:
    data = peek(f"/proc/{pid}/environ")
    if data:
        for name in found(data.split(b"\0")):
            leak(f"/proc/{pid}/environ holds {name}")
finish()
