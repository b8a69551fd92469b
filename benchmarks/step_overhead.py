"""Step overhead of the loop env, and the full-suite evaluation time, measured side by side.

    python benchmarks/step_overhead.py [--steps 200] [--suite default]

Prints the median time of a non-evaluating step (a `read`, and a `write`, with
auto_evaluate=False), the time of a cached evaluation step, and the time of one full-suite
evaluation at scale="ci" with no cache (a fresh reset on a new seed).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import gymnasium as gym

import rsigym  # noqa: F401


def median_step_ms(env: gym.Env, action, steps: int) -> float:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        env.step(action)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--suite", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = gym.make("RSI-MLE-v0", suite=args.suite, iterations=10**6, max_steps=10**6, auto_evaluate=False,
                       run_dir=tmp, shared_cache=False)
        start = time.perf_counter()
        env.reset(seed=12345)
        full = time.perf_counter() - start
        n_tasks = len(env.unwrapped.tasks)
        read = median_step_ms(env, {"op": "read", "path": "harness/memory.md"}, args.steps)
        write = median_step_ms(env, {"op": "write", "path": "harness/notes.md", "content": "x" * 200}, args.steps)
        cached = median_step_ms(env, {"op": "evaluate"}, max(5, args.steps // 20))
        env.close()
    print(f"tasks in suite {args.suite!r}: {n_tasks}")
    print(f"median step, read op (no evaluation):   {read:8.2f} ms   (goal <= 5 ms)")
    print(f"median step, write op (no evaluation):  {write:8.2f} ms")
    print(f"median step, evaluate with cache hits:  {cached:8.2f} ms   ({cached / read:.1f}x a read)")
    print(f"reset = data build + full evaluation, scale='ci', no cache: {full:6.2f} s ({full * 1000 / read:.0f}x a read)")


if __name__ == "__main__":
    main()
