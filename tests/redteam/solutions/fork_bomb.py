"""A bounded fork bomb: start as many long-lived processes as the sandbox allows."""
import os

from probe import PARAMS, finish, report

started = 0
for _ in range(PARAMS["attempts"]):
    try:
        pid = os.fork()
    except OSError as err:
        report("fork", f"refused after {started}: {err}")
        break
    if pid == 0:
        try:
            os.execv("/bin/sleep", ["sleep", PARAMS["sleep_tag"]])
        finally:
            os._exit(0)
    started += 1
print(f"STARTED {started}", flush=True)
finish()
