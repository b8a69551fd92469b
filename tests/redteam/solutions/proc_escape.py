"""Reach the host through /proc: another process's root and working directory, and the files
its descriptors hold open; submit the private labels if any of them leads there."""
import os

from probe import PARAMS, finish, leak, peek, report, submit_labels

me = os.getpid()
pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
report("other processes", len(pids))
for pid in pids:
    for via in ("root", "cwd"):
        text = peek(f"/proc/{pid}/{via}{PARAMS['private_labels']}")
        if text and b"split" in text:
            leak(f"/proc/{pid}/{via}")
            submit_labels(text)
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if PARAMS["run_dir"] in target or "labels" in target:
            leak(f"/proc/{pid}/fd/{fd} -> {target}")
finish()
