"""Parallel episodes: iterations per second of 1 vs 2 environments in a Gymnasium AsyncVectorEnv.

    python benchmarks/vector_scaling.py [--steps 6] [--tasks digits wine] [--envs 1 2]

Each env runs in its own process (``gym.make_vec(..., vectorization_mode="async")``). Every
step writes a configuration no env has graded before (a random forest with a new tree count
for the first task), so every step pays a real re-grading of that task; the others come from the
cache. Prints wall time, iterations per second and the speed-up over one env.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import gymnasium as gym

import rsigym  # noqa: F401  (registers the env ids)


def edit(task: str, env_index: int, step: int) -> str:
    trees = 100 + env_index + 2 * step  # distinct per env and step: never a cache hit
    config = {"kind": "classification", "model": "random_forest", "params": {"n_estimators": trees}}
    return json.dumps({"op": "write", "path": f"tasks/{task}/config.json", "content": json.dumps(config)})


def iterations_per_second(num_envs: int, steps: int, tasks: list[str]) -> tuple[float, float]:
    envs = gym.make_vec("RSI-MLE-v0", num_envs=num_envs, vectorization_mode="async", suite="toy",
                        tasks=tasks, iterations=steps + 1,
                        vector_kwargs={"shared_memory": False})  # Text observations: see docs/performance.md
    try:
        envs.reset(seed=0)
        started = time.monotonic()
        for step in range(steps):
            envs.step(tuple(edit(tasks[0], index, step) for index in range(num_envs)))
        wall = time.monotonic() - started
    finally:
        envs.close()
    return wall, num_envs * steps / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--tasks", nargs="+", default=["wine", "digits"])
    parser.add_argument("--envs", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    print(f"AsyncVectorEnv, {args.steps} re-grading steps per env, tasks {args.tasks}, cores {os.cpu_count()}")
    print(f"{'envs':>5}{'wall s':>9}{'iterations/s':>14}{'speed-up':>10}")
    base = None
    for num_envs in args.envs:
        wall, rate = iterations_per_second(num_envs, args.steps, args.tasks)
        base = base or rate
        print(f"{num_envs:>5}{wall:>9.1f}{rate:>14.2f}{rate / base:>10.2f}")


if __name__ == "__main__":
    main()
