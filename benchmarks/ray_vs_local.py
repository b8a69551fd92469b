"""Wall time of N episodes played one after another in this process vs as Ray tasks, side by side.

    python benchmarks/ray_vs_local.py [--seeds 0 1] [--iterations 2] [--tasks digits wine] [--agent greedy] [--cpus 2]

Plays one episode per seed (``rsigym.backends.local.play_episode``, grade cache off) sequentially
in-process, then the same episodes with ``run_episodes`` on a fresh local Ray instance with
``--cpus`` CPUs (one task per episode). Prints both wall times, Ray's start-up time apart, the
ratio, and checks that both played the same episodes (same final losses). The load average is
printed too: on a shared machine the wall times follow it.
"""
from __future__ import annotations

import argparse
import os
import time

from rsigym.backends.local import play_episode
from rsigym.backends.ray import connect, run_episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="RSI-MLE-v0")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=["digits", "wine"])
    parser.add_argument("--agent", default="greedy")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    args = parser.parse_args()
    kwargs = {"suite": "toy", "tasks": args.tasks, "shared_cache": False}  # the toy tasks: quick episodes

    start = time.perf_counter()
    local = [play_episode(args.env_id, args.agent, seed, kwargs, args.iterations) for seed in args.seeds]
    local_s = time.perf_counter() - start

    import ray

    start = time.perf_counter()
    connect(num_cpus=args.cpus)
    startup_s = time.perf_counter() - start
    remote = run_episodes(args.env_id, args.agent, args.seeds, kwargs, args.iterations)
    remote_s = time.perf_counter() - start - startup_s
    ray.shutdown()

    same = [(r.loss, r.private_loss) for r in remote] == [(r.loss, r.private_loss) for r in local]
    print(f"{len(args.seeds)} episodes of {args.agent} on {args.env_id} {args.tasks}, {args.iterations} iterations each")
    print(f"in-process, sequential:          {local_s:7.2f} s  ({local_s / len(args.seeds):.2f} s per episode)")
    print(f"Ray tasks, local Ray ({args.cpus} CPUs):   {remote_s:7.2f} s  (+ {startup_s:.2f} s to start Ray)")
    print(f"ratio Ray / in-process:          {remote_s / local_s:7.2f}   ({(remote_s + startup_s) / local_s:.2f} with start-up)")
    print(f"same final losses: {same};  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
