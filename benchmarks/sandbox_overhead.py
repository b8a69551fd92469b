"""Per-run overhead of each sandbox provider, side by side with a bare subprocess.

    python benchmarks/sandbox_overhead.py [--runs 20] [--no-docker]

For each provider (a bare ``subprocess.run``, ``local`` in process mode, ``local`` confined
where it works, ``docker`` where an engine and the image are there) prints the median wall
time of a trivial command (``true``) and of an empty Python program, and their ratio to the
bare subprocess: what sandboxing costs per solution run, before the solution does anything.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from rsigym.sandbox import LocalSandbox, Sandbox
from rsigym.sandbox.local import confinement_available


def median_seconds(run: Callable[[], object], runs: int) -> float:
    run()  # warm caches (page cache, image layers) outside the timing
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def providers(with_docker: bool) -> dict[str, Sandbox]:
    found: dict[str, Sandbox] = {"local (process)": LocalSandbox(confine=False)}
    if confinement_available():
        found["local (confined)"] = LocalSandbox(confine=True)
    if with_docker:
        try:
            from rsigym.sandbox.docker import DockerSandbox

            found["docker"] = DockerSandbox()
        except (ImportError, RuntimeError) as err:
            print(f"docker: skipped ({err})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rsigym-bench-") as tmp:
        cwd = Path(tmp)
        rows = {
            "bare subprocess": (
                median_seconds(lambda: subprocess.run(["true"], cwd=cwd, check=True), args.runs),
                median_seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], cwd=cwd, check=True), args.runs),
            )
        }
        for name, sandbox in providers(not args.no_docker).items():
            python = [sandbox.python(), "-c", "pass"]
            rows[name] = (
                median_seconds(lambda sandbox=sandbox: sandbox.run(["true"], cwd, 60), args.runs),
                median_seconds(lambda sandbox=sandbox, python=python: sandbox.run(python, cwd, 60), args.runs),
            )
    base_true, base_python = rows["bare subprocess"]
    print(f"median of {args.runs} runs; ratio = time / bare subprocess time")
    print(f"{'provider':<20}{'true (ms)':>12}{'ratio':>8}{'python -c pass (ms)':>22}{'ratio':>8}")
    for name, (true_s, python_s) in rows.items():
        true_ratio, python_ratio = true_s / base_true, python_s / base_python
        print(f"{name:<20}{true_s * 1000:>12.1f}{true_ratio:>8.1f}{python_s * 1000:>22.1f}{python_ratio:>8.1f}")


if __name__ == "__main__":
    main()
