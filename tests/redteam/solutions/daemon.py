"""Leave a daemon behind: double fork into a new session, then exit while it keeps running
(it could rewrite the artefacts while the grader reads them, or burn compute unbilled)."""
import os

from probe import PARAMS, finish

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", PARAMS["sleep_tag"]])
    os._exit(0)
os.wait()
print("DAEMON started", flush=True)
finish()
