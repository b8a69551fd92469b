"""Kernel tasks: write ``ModelNew`` with Triton kernels for a KernelBench-format problem.

Score (metric ``kernel_score``, higher is better, baseline 0, reference 1):

* no CUDA GPU: 1 for a correct, genuine Triton solution run under the Triton interpreter
  (speed is not measured), invalid otherwise;
* CUDA GPU: ``(t_starter - t) / (t_starter - t_roofline)`` averaged over the split's shapes,
  so the normalised loss is 1 at the starter's time and 0 at the roofline time.

The solution runs in the sandbox through :mod:`rsigym.envs.kernels.harness`; this class
writes the plan, and grades the harness's outputs against a reference it computes itself.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import secrets
import shutil
import statistics
import tempfile
import weakref
from pathlib import Path
from typing import Any

import torch
from rsigym.envs.kernels.grading import (
    Verdict,
    changed_files,
    judge,
    read_outputs,
    summarise,
)
from rsigym.envs.kernels.harness import protocol
from rsigym.envs.kernels.harness.problem_file import Problem
from rsigym.envs.kernels.roofline import DevicePeaks, measure_peaks, roofline_ms

from rsigym.constants import GRADER_ERROR_TAIL_CHARS
from rsigym.sandbox import ExecResult, Limits, Sandbox
from rsigym.scales import DEFAULT_SCALE, ScaleConfig, Timing, scale_table
from rsigym.tasks import Grade, RunContext, Task, TaskSpec

CPU_NOTE = "no CUDA GPU: graded for correctness and genuine Triton kernels under the interpreter; speed is not measured"
# Medians of more repeats: a score is a reward, so starter-vs-starter must stay within ±0.05
# (benchmarks/kernel_score_noise.py checks it on a GPU).
TIMING = scale_table(ci=Timing(repeats=20, warmup=3), full=Timing(repeats=50, warmup=10))
HARNESS_DIR = Path(__file__).with_name("harness")
HARNESS_PACKAGE = "rsigym_kernel_harness"  # the harness's name inside the data directory
GPU_HIDDEN = (
    "the sandbox hides the GPU: the grader sees CUDA, but the sandboxed harness does not, so every kernel "
    "would run on the CPU and grade invalid. Fix: pass the GPU through (LocalSandbox(gpus=\"all\"), the "
    "default, which needs the NVIDIA device nodes under /dev; DockerSandbox needs nvidia-container-toolkit "
    "and an image with a CUDA build of torch), or hide it from the grader too (CUDA_VISIBLE_DEVICES= "
    "for a CPU-only run). See docs/kernels.md, \"GPU passthrough\"."
)
_PROBE = "import torch; print('cuda-visible', torch.cuda.is_available())"
_probed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # sandbox -> its probe's answer


def grader_sees_cuda() -> bool:
    """Whether this (trusted) process has a CUDA GPU: then solutions are timed on it."""
    return torch.cuda.is_available()


def sandbox_gpu_problem(sandbox: Sandbox) -> str | None:
    """:data:`GPU_HIDDEN` (with what the probe printed) when the grader sees CUDA and a trusted
    probe run in ``sandbox`` does not, else ``None``. Asked once per sandbox."""
    if not grader_sees_cuda():
        return None
    if sandbox not in _probed:
        with tempfile.TemporaryDirectory(prefix="rsigym-gpu-probe-") as tmp:
            run = sandbox.run([sandbox.python(), "-I", "-c", _PROBE], Path(tmp), 300, limits=Limits(cpu_seconds=300, memory_bytes=None))
        _probed[sandbox] = None if "cuda-visible True" in run.stdout else f"{GPU_HIDDEN}\nprobe in the sandbox: {run.tail(400)}"
    return _probed[sandbox]


class KernelTask(Task):
    """A KernelBench problem graded in the sandboxed harness (see the module docstring)."""

    def __init__(self, folder: Path, spec: TaskSpec | None = None, problem_path: Path | None = None,
                 sizes: dict[str, list[dict[str, Any]]] | None = None, starter_is_baseline: bool = True):
        super().__init__(folder, spec)
        self.problem_path = Path(problem_path or self.folder / protocol.PROBLEM)
        self.sizes_override = sizes
        self.has_baseline = starter_is_baseline  # False: the starter is a template; eager PyTorch is the baseline

    @functools.cached_property
    def problem(self) -> Problem:
        return Problem(self.problem_path, f"rsigym_kernel_problem_{self.id.replace('-', '_')}")

    def shapes(self, scale: str) -> list[dict[str, Any]]:
        if self.sizes_override:
            return [dict(s) for s in self.sizes_override.get(scale) or self.sizes_override.get(DEFAULT_SCALE) or [{}]]
        return self.problem.sizes(scale)

    def scale_config(self, scale: str) -> ScaleConfig[list[dict[str, Any]]]:
        """The shapes of ``scale`` (the problem file's ``SIZES`` unless overridden) and how they are timed."""
        return ScaleConfig(self.shapes(scale), timing=TIMING.get(scale, TIMING[DEFAULT_SCALE]))

    def plan(self, scale: str) -> dict[str, Any]:
        """Shapes and splits: public = the first two shapes, private = every shape (fresh seeds)."""
        config = self.scale_config(scale)
        shapes = config.sizes
        return {
            "scale": scale,
            "shapes": shapes,
            "public": list(range(min(2, len(shapes)))),
            "private": list(range(len(shapes))),
            "timing": dataclasses.asdict(config.timing),
        }

    def limits(self, scale: str) -> Limits:
        # CUDA reserves far more address space than it uses, so the address-space limit stays off on a GPU.
        limits = super().limits(scale)
        return limits._replace(memory_bytes=None) if grader_sees_cuda() else limits

    def prepare(self, seed: int, scale: str, data_dir: Path, private_dir: Path) -> None:
        """Write the plan and the trusted files the harness loads. Inputs are drawn per run, not here."""
        data_dir, private_dir = Path(data_dir), Path(private_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        private_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / protocol.PLAN).write_text(json.dumps(self.plan(scale), indent=1))
        harness_copy = data_dir / HARNESS_PACKAGE
        shutil.rmtree(harness_copy, ignore_errors=True)
        shutil.copytree(HARNESS_DIR, harness_copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copyfile(self.problem_path, data_dir / protocol.PROBLEM)
        starter = self.starter_dir / protocol.SOLUTION
        if self.has_baseline and starter.is_file():
            shutil.copyfile(starter, data_dir / protocol.BASELINE)
            if (self.starter_dir / "config.json").is_file():
                shutil.copyfile(self.starter_dir / "config.json", data_dir / "config.json")
        digests = {
            str(path.relative_to(data_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(data_dir.rglob("*")) if path.is_file()
        }
        (private_dir / "digests.json").write_text(json.dumps(digests, indent=1))

    def command(self, python: str) -> list[str]:
        # Isolated mode (-I): no PYTHONPATH, so a sitecustomize.py in the workspace's lib/ cannot run
        # before the harness has captured what it guards; the harness adds lib/ to sys.path later.
        bootstrap = (
            "import os, runpy, sys; sys.path.insert(0, os.environ['RSI_DATA_DIR']); "
            f"runpy.run_module({HARNESS_PACKAGE!r}, run_name='__main__', alter_sys=True)"
        )
        return [python, "-I", "-c", bootstrap]

    def solution_env(self, ctx: RunContext) -> dict[str, str]:
        """Also leaves a one-time nonce for the harness, which reads and deletes it before the solution loads."""
        env = super().solution_env(ctx)
        nonce = secrets.token_hex(16)
        ctx.output_dir.mkdir(parents=True, exist_ok=True)
        (ctx.output_dir / protocol.NONCE).write_text(nonce)
        ctx.run_state["nonce"] = nonce
        env["TRITON_INTERPRET"] = "0" if grader_sees_cuda() else "1"  # explicit: the host's value passes through otherwise
        return env

    def sandbox_problem(self, sandbox: Sandbox) -> str | None:
        """Refuse a sandbox that hides the GPU the grader sees (see :func:`sandbox_gpu_problem`)."""
        return sandbox_gpu_problem(sandbox)

    def grade(self, ctx: RunContext, run: ExecResult) -> Grade:
        nonce = ctx.run_state.pop("nonce", "")
        digests = json.loads((ctx.private_dir / "digests.json").read_text())
        changed = changed_files(ctx.data_dir, digests)
        if changed:
            return Grade(False, error=f"the task's data files were modified: {changed}; re-prepare the task")
        try:
            records, tensors = read_outputs(ctx.output_dir, nonce)
        except ValueError as err:
            return Grade(False, error=f"{err}\n{run.tail(GRADER_ERROR_TAIL_CHARS)}")
        device = "cuda" if grader_sees_cuda() else "cpu"
        if device == "cuda" and records.get("device") == "cpu":
            return Grade(False, error=GPU_HIDDEN)
        if records.get("device") != device or bool(records.get("interpreter")) != (device == "cpu"):
            return Grade(False, error=f"the harness ran on {records.get('device')} (interpreter {records.get('interpreter')}), expected {device}")
        plan = self.plan(ctx.scale)
        verdict = judge(self.problem, plan, records, tensors, device, timed_repeats=plan["timing"]["repeats"] if device == "cuda" else 0)
        if verdict.problems["public"]:
            return Grade(False, error="; ".join(verdict.problems["public"][:4]), details=summarise(records))
        details = {**summarise(records), "max_error": verdict.max_error["public"]}
        private_ok = not verdict.problems["private"]
        if device == "cpu":
            return Grade(True, 1.0, 1.0 if private_ok else None, details={**details, "note": CPU_NOTE})
        return speed_grade(plan, records, verdict, private_ok, details, measure_peaks(torch.cuda.current_device()))


def speed_grade(plan: dict, records: dict, verdict: Verdict, private_ok: bool, details: dict, peaks: DevicePeaks) -> Grade:
    """The GPU score: mean over a split's shapes of the progress from the starter's time to the roofline."""
    per_shape = {}
    for index in plan["private"]:
        timing = records.get("timing", {}).get(str(index), {})
        if "solution" not in timing or "eager" not in timing or index not in verdict.work:
            return Grade(False, error=f"no timing for shape {index}", details=details)
        per_shape[index] = speed_figures(timing, roofline_ms(verdict.work[index], peaks))
    public = statistics.fmean(per_shape[i]["score"] for i in plan["public"])
    private = statistics.fmean(per_shape[i]["score"] for i in plan["private"]) if private_ok else None
    shown = {f"shape{i}": per_shape[i] for i in plan["public"]}  # private shapes stay out of feedback
    speedup = math.exp(statistics.fmean(math.log(per_shape[i]["speedup_vs_eager"]) for i in plan["public"]))
    return Grade(True, public, private, details={**details, "device": peaks.name, "shapes": shown, "speedup_vs_eager": speedup})


def speed_figures(timing: dict[str, dict], roofline: float) -> dict[str, float]:
    """Score and report for one shape from median times (ms): baseline = the starter, else eager PyTorch."""
    solution = timing["solution"]["median"]
    eager = timing["eager"]["median"]
    baseline = timing.get("baseline", timing["eager"])["median"]
    span = max(baseline - roofline, 0.05 * baseline)  # a starter at the roofline would make the loss undefined
    return {
        "score": (baseline - solution) / span,
        "solution_ms": solution,
        "baseline_ms": baseline,
        "eager_ms": eager,
        "roofline_ms": roofline,
        "fraction_of_roofline": roofline / solution,
        "speedup_vs_eager": eager / solution,
        "solution_min_ms": timing["solution"]["min"],
        "solution_max_ms": timing["solution"]["max"],
    }
