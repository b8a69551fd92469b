"""An episode for the fault-injection suite to kill: ``python crashing_run.py RUN_DIR``.

It logs iteration 0 (reset) and iteration 1, prints ``SLOW`` and then steps with a slow
solution; the suite SIGKILLs this process while that solution is being evaluated.
"""
import sys

import gymnasium as gym

import rsigym  # noqa: F401  (registers the env ids)

# Sleeps, then does what the starter does: a valid, ordinary solution that is merely slow.
SLOW_SOLUTION = """import json, time
from pathlib import Path
import tabular
time.sleep(2)  # slow-solution-marker
tabular.solve(json.loads(Path("config.json").read_text()))
"""

if __name__ == "__main__":
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["digits"], iterations=2, run_dir=sys.argv[1], agent="greedy")
    env.reset(seed=0)
    env.step({"op": "write", "path": "harness/memory.md", "content": "written before the crash\n"})
    print("SLOW", flush=True)
    env.step({"op": "write", "path": "tasks/digits/solution.py", "content": SLOW_SOLUTION})
    print("the evaluation was not interrupted", flush=True)
