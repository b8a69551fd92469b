"""Kill the evaluator: SIGKILL to the parent, to PID 1 and to every other visible process."""
import os
import signal
import time

from probe import finish, report

me = os.getpid()
targets = [os.getppid(), 1] + [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (me, os.getppid(), 1)]
report("targets", targets[:20])
for pid in targets:
    try:
        os.kill(pid, signal.SIGKILL)
        report(f"kill {pid}", "sent")
    except OSError as err:
        report(f"kill {pid}", type(err).__name__)
time.sleep(0.5)
finish()
