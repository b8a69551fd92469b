"""An external agent with a shell goes for the run's trusted state.

Run as ``python - TARGETS_JSON`` (the source on stdin): inside ``rsigym shell`` as the agent,
and directly on the host as the control that shows the attacks are real there. Prints one
line per attempt that worked, then ``RESULT leaks=[...]``.
"""
import json
import os
import sys

targets = json.loads(sys.argv[1])
leaks = []


def attempt(name, action):
    try:
        action()
    except Exception:  # noqa: BLE001 - a failed attempt is the expected outcome
        return
    leaks.append(name)
    print(f"GOT {name}", flush=True)


def read(path):
    with open(path, "rb") as stream:
        return stream.read()


def write(path):
    with open(path, "ab") as stream:
        stream.write(b"\n")


attempt("read private labels", lambda: read(targets["private_labels"]))
attempt("read the grade key", lambda: read(targets["key"]))
attempt("read a grade file", lambda: read(sorted(os.scandir(targets["grades"]), key=lambda e: e.name)[0].path))
attempt("write a grade file", lambda: write(os.path.join(targets["grades"], "forged.json")))
attempt("write env.json", lambda: write(targets["env_json"]))
attempt("write the trusted settings", lambda: write(targets["trusted_settings"]))
attempt("append to the run log", lambda: write(targets["log"]))
attempt("list the run's history", lambda: os.listdir(targets["history"]) or None)
attempt("read a bundled dataset", lambda: read(targets["bundled_dataset"]))  # the test rows' labels are in it


def walk_for_labels():
    for folder, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys")]
        if "labels.csv" in files and "private" in folder:
            read(os.path.join(folder, "labels.csv"))
            return
    raise FileNotFoundError("no labels.csv in view")


attempt("find labels.csv by walking /", walk_for_labels)


def other_processes():
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            environ = read(f"/proc/{pid}/environ")
            if b"RSIGYM" not in environ and environ:  # a process that is not the agent's own
                return
    raise LookupError("only the agent's own processes")


attempt("see a process outside the shell", other_processes)
print(f"RESULT leaks={leaks}", flush=True)
