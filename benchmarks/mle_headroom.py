"""Headroom of the Kaggle-style suite: what the greedy agent leaves after 16 iterations.

    python benchmarks/mle_headroom.py [--iterations 16] [--seed 0] [--out runs/headroom]

Plays the built-in greedy agent on RSI-MLE-v0 (the ``kaggle`` suite, scale ``ci``) for
``--iterations`` evaluations and prints each task's private loss at the end and their median
(the issue asks for a median of at least 0.4). It also checks from each task.json that the
reference was graded valid on every calibration seed (``calibration.reference_scores``).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics

import gymnasium as gym

from rsigym.agents import make_agent, run_episode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/headroom")
    parser.add_argument("--workers", type=int, default=2, help="tasks graded in parallel")
    args = parser.parse_args()

    env = gym.make("RSI-MLE-v0", iterations=args.iterations, run_dir=args.out, agent="greedy", workers=args.workers)
    info = run_episode(env, make_agent("greedy", env, seed=args.seed), args.seed)
    tasks = env.unwrapped.tasks
    env.close()
    private = info["private_losses"]
    print(f"{'task':<24} {'private loss':>12} {'reference valid':>16}")
    all_valid = True
    for task in tasks:
        calibration = json.loads((task.folder / "task.json").read_text()).get("calibration", {})
        scores = calibration.get("reference_scores", [])
        valid = bool(scores) and all(math.isfinite(s) for s in scores)
        all_valid &= valid
        print(f"{task.id:<24} {private[task.id]:12.3f} {str(valid):>16}")
    median = statistics.median(private.values())
    print(f"greedy, {args.iterations} iterations, seed {args.seed}: median private loss {median:.3f} "
          f"(suite private loss {info['private_loss']:.3f}); reference valid on every task: {all_valid}")


if __name__ == "__main__":
    main()
