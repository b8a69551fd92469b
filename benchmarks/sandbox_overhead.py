"""Per-run overhead of each sandbox provider, cold and warm, side by side with a bare subprocess.

    python benchmarks/sandbox_overhead.py [--runs 20] [--no-docker]

For each provider (a bare ``subprocess.run``; ``local`` in process mode and confined where it
works, each with Python started cold and forked warm; ``docker`` where an engine and the
image are there) prints the median wall time of a trivial command (``true``), of an empty
Python program, and of a program that imports what solutions import (numpy, pandas,
scikit-learn, torch) — the per-task start-up a solution pays before it does anything — with
ratios to the bare subprocess and, for the imports, of each cold provider to its warm twin.
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


IMPORTS = "import numpy, pandas, scipy.stats, sklearn.ensemble, torch"


def providers(with_docker: bool) -> dict[str, Sandbox]:
    found: dict[str, Sandbox] = {
        "local process cold": LocalSandbox(confine=False, warm=False),
        "local process warm": LocalSandbox(confine=False, warm=True),
    }
    if confinement_available():
        found["local confined cold"] = LocalSandbox(confine=True, warm=False)
        found["local confined warm"] = LocalSandbox(confine=True, warm=True)
    if with_docker:
        try:
            from rsigym.sandbox.docker import DockerSandbox

            found["docker cold"] = DockerSandbox()
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
        bare = {
            "true": lambda: subprocess.run(["true"], cwd=cwd, check=True),
            "pass": lambda: subprocess.run([sys.executable, "-c", "pass"], cwd=cwd, check=True),
            "imports": lambda: subprocess.run([sys.executable, "-c", IMPORTS], cwd=cwd, check=True),
        }
        rows = {"bare subprocess": {name: median_seconds(run, args.runs) for name, run in bare.items()}}
        for name, sandbox in providers(not args.no_docker).items():
            commands = {"true": ["true"], "pass": [sandbox.python(), "-c", "pass"], "imports": [sandbox.python(), "-c", IMPORTS]}
            rows[name] = {
                label: median_seconds(lambda sandbox=sandbox, cmd=cmd: _checked(sandbox.run(cmd, cwd, 120)), args.runs)
                for label, cmd in commands.items()
            }
    base = rows["bare subprocess"]
    print(f"median of {args.runs} runs; x = time / bare subprocess time")
    print(f"{'provider':<22}{'true ms':>9}{'x':>6}{'python -c pass ms':>19}{'x':>6}{'imports ms':>12}{'x':>6}{'cold/warm':>11}")
    for name, times in rows.items():
        twin = rows.get(name.replace(" cold", " warm")) if name.endswith(" cold") else None
        speedup = f"{times['imports'] / twin['imports']:.1f}" if twin else ""
        print(
            f"{name:<22}{times['true'] * 1000:>9.1f}{times['true'] / base['true']:>6.1f}"
            f"{times['pass'] * 1000:>19.1f}{times['pass'] / base['pass']:>6.1f}"
            f"{times['imports'] * 1000:>12.1f}{times['imports'] / base['imports']:>6.2f}{speedup:>11}"
        )


def _checked(result):
    if not result.ok:
        raise RuntimeError(f"benchmark command failed: {result}")
    return result


if __name__ == "__main__":
    main()
