"""The trusted grader's checks: rebuild each trial's inputs from its seeds, run the reference, compare.

Nothing here imports solution code. Inputs come from the problem file (trusted), seeded with
the seeds the harness drew after the solution was imported; outputs come from a safetensors
file; records from JSON.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import safetensors.torch
import torch
from rsigym.envs.kernels.harness import protocol
from rsigym.envs.kernels.harness.problem_file import Problem, flatten_tensors
from rsigym.envs.kernels.roofline import Work, count_work

SPLITS = ("public", "private")


class Verdict(NamedTuple):
    """Problems found per split (empty: the split passes) and the work of each shape's reference."""

    problems: dict[str, list[str]]
    work: dict[int, Work]
    max_error: dict[str, float]


def read_outputs(output_dir: Path, nonce: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """The harness's records and saved outputs; raises ``ValueError`` when they are missing or forged."""
    records_path, outputs_path = output_dir / protocol.RECORDS, output_dir / protocol.OUTPUTS
    if not records_path.is_file() or not outputs_path.is_file():
        raise ValueError("the harness wrote no records: the solution ended the process early")
    records = json.loads(records_path.read_text())
    if not isinstance(records, dict) or records.get("nonce") != nonce:
        raise ValueError("the records were not written by this run's harness")
    return records, safetensors.torch.load_file(str(outputs_path))


def compare(output: torch.Tensor, reference: torch.Tensor, tolerance: tuple[float, float]) -> tuple[str | None, float]:
    """``(problem or None, max abs error)`` of one output against the reference (same positions)."""
    if output.shape != reference.shape:
        return f"shape {list(output.shape)}, expected {list(reference.shape)}", float("inf")
    if output.dtype != reference.dtype:
        return f"dtype {output.dtype}, expected {reference.dtype}", float("inf")
    if output.is_floating_point() and not bool(torch.isfinite(output).all()):
        return "the output contains NaN or inf", float("inf")
    out64, ref64 = output.double(), reference.double()
    error = float((out64 - ref64).abs().max()) if output.numel() else 0.0
    atol, rtol = tolerance
    if not bool(((out64 - ref64).abs() <= atol + rtol * ref64.abs()).all()):
        return f"wrong values: max abs error {error:.3g} (atol {atol:g}, rtol {rtol:g})", error
    return None, error


class _References:
    """Reference outputs per trial, with the model cached per (shape, init seed)."""

    def __init__(self, problem: Problem, shapes: list[dict], device: str, count: bool):
        self.problem, self.shapes, self.device, self.count = problem, shapes, device, count
        self.models: dict[tuple[int, int], torch.nn.Module] = {}
        self.work: dict[int, Work] = {}

    def __call__(self, shape: int, seed: int, init_seed: int) -> list[torch.Tensor]:
        key = (shape, init_seed)
        if key not in self.models:  # trials come grouped by model; keep one at a time (GPU memory)
            self.models = {key: self.problem.make_model(self.problem.module.Model, self.shapes[shape], init_seed, self.device)}
        model = self.models[key]
        inputs = self.problem.make_inputs(self.shapes[shape], seed, self.device)
        with torch.no_grad():
            if self.count and shape not in self.work:
                self.work[shape], result = count_work(model, inputs)
            else:
                result = model(*inputs)
        return [t.detach() for t in flatten_tensors(result)]


def judge(problem: Problem, plan: dict, records: dict, tensors: dict[str, torch.Tensor], device: str,
          count_work: bool | None = None, timed_repeats: int = 0) -> Verdict:
    """Check every trial the plan asks for; a problem in a shape of a split fails that split.

    ``count_work`` (default: on a GPU, where speed is scored) also measures each shape's work
    for the roofline; ``timed_repeats`` is how many timed outputs each shape must have kept."""
    # Root causes first (the harness's fatal findings, then what each trial found, such as the
    # template's NotImplementedError), consequences after (trials missing, seeds repeated).
    problems: dict[str, list[str]] = {split: list(records.get("fatal", [])) for split in SPLITS}
    max_error = {split: 0.0 for split in SPLITS}
    count = device.startswith("cuda") if count_work is None else count_work
    references = _References(problem, plan["shapes"], device, count)
    trials = [t for t in records.get("trials", []) if isinstance(t, dict)]
    for trial in trials:
        splits = [trial.get("split")] if trial.get("split") in SPLITS else [s for s in SPLITS if trial.get("shape") in plan[s]]
        found, error = _judge_trial(trial, tensors, references, problem)
        for split in splits:
            problems[split] += [f"trial {trial.get('id')} (shape {trial.get('shape')}): {p}" for p in found]
            max_error[split] = max(max_error[split], error)
    seeds = Counter(t["seed"] for t in trials if "seed" in t)
    if any(count > 1 for count in seeds.values()):
        for split in SPLITS:
            problems[split].append("the harness drew the same input seed twice: its seed source was replaced")
    for split in SPLITS:
        ran = Counter(t.get("shape") for t in trials if t.get("split") == split)
        wanted = Counter(plan[split]) + (Counter(plan[split][:1]) if split == "public" else Counter())
        if ran != wanted:
            problems[split].append(f"the {split} trials did not all run (ran {dict(ran)}, wanted {dict(wanted)})")
    if not any("rerun" in t for t in trials if t.get("split") == "public"):
        problems["public"].append("the second run on the same inputs is missing")
    if timed_repeats:
        timed = Counter(t.get("shape") for t in trials if t.get("split") == "timing")
        if any(timed[index] != timed_repeats for index in range(len(plan["shapes"]))):
            problems["public"].append(f"the harness did not keep every timed output (kept {dict(timed)})")
    return Verdict({k: _unique(v) for k, v in problems.items()}, references.work, max_error)


def _judge_trial(trial: dict, tensors: dict, references: _References, problem: Problem) -> tuple[list[str], float]:
    found = list(trial.get("problems", []))
    if trial.get("error"):
        return found + [trial["error"]], 0.0
    if "outputs" not in trial:
        return found or ["no outputs"], 0.0
    try:
        reference = references(int(trial["shape"]), int(trial["seed"]), int(trial["init_seed"]))
    except Exception as err:  # noqa: BLE001 - a record pointing at a shape that does not exist
        return found + [f"cannot rebuild the trial's inputs: {type(err).__name__}: {err}"], 0.0
    worst = 0.0
    runs = [("output", trial["outputs"])] + ([("second run", trial["rerun"])] if "rerun" in trial else [])
    for label, entries in runs:
        if len(entries) != len(reference):
            found.append(f"{label}: forward returned {len(entries)} tensors, the reference {len(reference)}")
            continue
        for entry, ref in zip(entries, reference):
            problem_text, error = _judge_output(entry, tensors, ref, problem, protocol.sample_size(str(trial.get("split"))))
            worst = max(worst, error)
            if problem_text:
                found.append(f"{label}: {problem_text}")
    return found, worst


def _judge_output(entry: dict, tensors: dict, reference: torch.Tensor, problem: Problem, size: int) -> tuple[str | None, float]:
    saved = tensors.get(entry.get("key", ""))
    if saved is None:
        return "output missing from the saved tensors", float("inf")
    dtype = str(reference.dtype).removeprefix("torch.")
    if list(entry.get("shape", [])) != list(reference.shape) or entry.get("dtype") != dtype:
        return f"returned {entry.get('dtype')}{entry.get('shape')}, expected {dtype}{list(reference.shape)}", float("inf")
    if reference.numel() > size:  # the sample size is the protocol's, not the record's
        if entry.get("sample_seed") is None:
            return "a large output was saved without its sample seed", float("inf")
        if entry.get("nonfinite", 0):
            return "the output contains NaN or inf", float("inf")
        index = protocol.sample_indices(reference.numel(), int(entry["sample_seed"]), size).to(reference.device)
        reference = reference.reshape(-1)[index]
    return compare(saved.to(reference.device), reference, problem.tolerance(reference.dtype))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def changed_files(data_dir: Path, digests: dict[str, str]) -> list[str]:
    """Files in the data directory added, removed or changed since ``prepare`` (which the next harness run would load)."""
    present = {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    changed = sorted(present - set(digests))
    for name, digest in digests.items():
        path = data_dir / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            changed.append(name)
    return changed


def summarise(records: dict[str, Any]) -> dict[str, Any]:
    """Figures from the records worth showing in ``info`` (never private outputs)."""
    return {"launches": records.get("launches", 0), "device": records.get("device_name", ""), "aten_ops": records.get("aten_ops", {})}
