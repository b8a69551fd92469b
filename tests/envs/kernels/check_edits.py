"""Run every task's starter under every named edit in this process, under the Triton interpreter.

Used by test_kernel_edits.py in a subprocess, because TRITON_INTERPRET must be set before
triton is first imported (Triton's own jit helpers are built at that moment). Prints one JSON
object: case name -> problem text, or null when the edited starter is correct and compiles.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported, below

import torch
from rsigym.envs.kernels import load_tasks
from rsigym.envs.kernels.grading import compare
from rsigym.envs.kernels.harness import ttir
from rsigym.envs.kernels.harness.checks import LaunchMonitor
from rsigym.envs.kernels.harness.problem_file import flatten_tensors, import_file


def check(task, edit, monitor: LaunchMonitor, folder: Path) -> str | None:
    config = {**task.starter_config(), **(edit.set if edit else {})}
    shutil.copyfile(task.starter_dir / "solution.py", folder / "solution.py")
    (folder / "config.json").write_text(json.dumps(config))
    solution = import_file(folder / "solution.py")
    problem = task.problem
    shape = problem.sizes("ci")[1]  # an odd shape: masks and loop tails matter
    inputs = problem.make_inputs(shape, 3, "cpu")
    monitor.signatures.clear()
    with torch.no_grad():
        expected = flatten_tensors(problem.make_model(problem.module.Model, shape, 1, "cpu")(*inputs))
        got = flatten_tensors(problem.make_model(solution.ModelNew, shape, 1, "cpu")(*[x.clone() for x in inputs]))
    if len(got) != len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for out, ref in zip(got, expected):
        text, _ = compare(out, ref, problem.tolerance(ref.dtype))
        if text:
            return text
    if not monitor.signatures:
        return "no kernel launched"
    errors = [e for e in map(ttir.compile_error, monitor.signatures.values()) if e]
    return errors[0] if errors else None


def main() -> None:
    monitor = LaunchMonitor()
    monitor.install()
    monitor.describe = True
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in load_tasks():
            for edit in (None, *task.spec.edits):
                folder = Path(tmp) / f"{task.id}-{edit.name if edit else 'starter'}"
                folder.mkdir()
                try:
                    results[folder.name] = check(task, edit, monitor, folder)
                except Exception as err:  # noqa: BLE001 - reported per case
                    results[folder.name] = f"{type(err).__name__}: {err}"
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
