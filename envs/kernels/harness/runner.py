"""The sandboxed half of a kernel task, run in the solution folder.

Order matters. Everything a solution could use to forge a result is captured before
``solution.py`` is imported: the launch monitor, the tamper guard, the clock, the seed source,
and (on a GPU) the timings of eager PyTorch and of the starter. Then ``ModelNew`` runs on
inputs drawn from seeds made after the import, under the checks of
:mod:`rsigym.envs.kernels.checks`. Outputs and records go to ``$RSI_OUTPUT_DIR``; the trusted
grader regenerates the inputs from the recorded seeds, computes the reference and decides.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import triton

from . import checks, problem_file, protocol, timing, ttir
from .checks import AtenRecorder, LaunchMonitor, ProcessWatch, TamperGuard
from .problem_file import Problem, flatten_tensors, import_file

_urandom = os.urandom
_allclose = torch.allclose


def fresh_seed() -> int:
    return int.from_bytes(_urandom(6), "little")


def describe_error(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {str(err)[:400]}{where}"


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and _allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True)


class Harness:
    """Runs the plan against one solution and collects what the grader needs."""

    def __init__(self, data_dir: Path, output_dir: Path, solution_path: Path):
        self.data_dir, self.output_dir, self.solution_path = data_dir, output_dir, solution_path
        self.plan = json.loads((data_dir / protocol.PLAN).read_text())
        self.nonce = _take_nonce(output_dir / protocol.NONCE)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            _autotune_without_timing()
        self.monitor = LaunchMonitor()
        self.monitor.install()
        self.monitor.describe = self.device == "cpu"  # compiled for real on a GPU; checked by ttir on a CPU
        self.problem = Problem(data_dir / protocol.PROBLEM, "rsigym_kernel_problem")
        self.clock = timing.Clock(self.device)
        self.tensors: dict[str, torch.Tensor] = {}
        self.records: dict[str, Any] = {
            "nonce": self.nonce,
            "device": self.device,
            "device_name": torch.cuda.get_device_name() if self.device == "cuda" else "cpu",
            "interpreter": bool(triton.knobs.runtime.interpret),
            "fatal": [],
            "trials": [],
            "timing": {},
            "aten_ops": {},
        }
        self.guard: TamperGuard | None = None
        self.watch: ProcessWatch | None = None

    # ------------------------------------------------------------------ phases
    def run(self) -> None:
        if self.device == "cuda":
            self.time_trusted_models()
        self.guard = TamperGuard(modules=[sys.modules[__name__], checks, timing, ttir, problem_file, protocol])
        self.watch = ProcessWatch()
        model_cls = self.import_solution()
        if model_cls is not None:
            for split in ("public", "private"):
                self.run_split(split, model_cls)
            if self.device == "cpu":
                self.check_compiles()
            elif not self.records["fatal"]:
                self.time_solution(model_cls)
        self.note_tampering("at the end")
        self.records["launches"] = self.monitor.launches

    def import_solution(self) -> type | None:
        # The harness runs isolated (python -I); the solution gets its folder and lib/ on the path only now.
        extra = [str(self.solution_path.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:0] = extra
        try:
            module = import_file(self.solution_path, "solution")
            model_cls = module.ModelNew
        except BaseException as err:  # noqa: BLE001 - SystemExit from a solution is a failure too
            self.records["fatal"].append(f"importing {self.solution_path.name} failed: {describe_error(err)}")
            return None
        if model_cls is self.problem.module.Model or _derives_from(model_cls, self.problem.module.Model):
            self.records["fatal"].append("ModelNew is (or subclasses) the reference Model")
        self.note_tampering("while importing the solution")
        return model_cls

    def note_tampering(self, when: str) -> list[str]:
        found = []
        if self.guard is not None:
            found += [f"replaced {name}" for name in self.guard.changes()]
        if self.watch is not None:
            found += [f"started {what}" for what in self.watch.news()]
        if found:
            message = f"solution tampered with the harness {when}: {', '.join(found[:8])}"
            if message not in self.records["fatal"]:
                self.records["fatal"].append(message)
        return found

    def run_split(self, split: str, model_cls: type) -> None:
        """Public: the first shape twice (new values in the same buffers), then the others once.
        Private: every shape once, with new seeds. The first trial of each split runs the ghost
        check; the first public one also runs twice on the same inputs."""
        shapes = self.plan["shapes"]
        for position, index in enumerate(self.plan[split]):
            init_seed = fresh_seed()
            try:
                model = self.problem.make_model(model_cls, shapes[index], init_seed, self.device)
            except Exception as err:  # noqa: BLE001 - any failure of the solution is recorded
                self.records["trials"].append({"id": f"{split}{len(self.records['trials'])}", "split": split, "shape": index,
                                               "error": f"ModelNew(...) failed: {describe_error(err)}"})
                continue
            buffers = None
            for repeat in range(2 if split == "public" and position == 0 else 1):
                seed = fresh_seed()
                fresh = self.problem.make_inputs(shapes[index], seed, self.device)
                if buffers is None:
                    buffers = fresh
                else:
                    timing.refill(buffers, fresh)  # same pointers, new values: pointer-keyed caches go stale
                trial = {"id": f"{split}{len(self.records['trials'])}", "split": split, "shape": index, "seed": seed, "init_seed": init_seed}
                self.records["trials"].append(trial)
                first = position == 0 and repeat == 0
                self.trial(trial, model, buffers, ghost=first, rerun=first and split == "public")

    def trial(self, trial: dict, model: torch.nn.Module, inputs: list, ghost: bool = False, rerun: bool = False) -> None:
        """One checked forward, optionally run again on the same inputs and with every launch a no-op."""
        trial["problems"] = problems = []
        outputs = self.checked_forward(model, inputs, problems)
        if outputs is None:
            return
        trial["outputs"] = self.save(trial["id"] + ".out", outputs, trial["split"])
        if rerun:
            again = self.checked_forward(model, inputs, problems)
            if again is not None:
                trial["rerun"] = self.save(trial["id"] + ".rerun", again, trial["split"])
        if ghost and self.ghost_unchanged(model, inputs, outputs):
            problems.append("the output does not change when the Triton kernels are turned into no-ops (ghost check)")

    def checked_forward(self, model: torch.nn.Module, inputs: list, problems: list[str]) -> list[torch.Tensor] | None:
        pristine = [x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]
        launches, side_launches = self.monitor.launches, self.monitor.side_stream_launches
        recorder = AtenRecorder(self.monitor, inputs, poison=True)
        if self.device == "cuda":
            self.monitor.stream = torch.cuda.current_stream().cuda_stream
        try:
            with torch.no_grad(), recorder:
                result = model(*inputs)
            self.clock.synchronize()
        except Exception as err:  # noqa: BLE001 - any failure of the solution is recorded
            problems.append(f"forward raised {describe_error(err)}")
            return None
        finally:
            self.monitor.stream = None
            for op, count in recorder.violations.items():
                self.records["aten_ops"][op] = self.records["aten_ops"].get(op, 0) + count
        tampering = self.note_tampering("during forward")
        if tampering:
            problems.append("tampering: " + ", ".join(tampering[:5]))
        if self.monitor.launches == launches:
            problems.append("no Triton kernel was launched during forward")
        if self.monitor.side_stream_launches > side_launches:
            problems.append("kernels were launched on a side stream: launch on the stream forward is called on")
        if recorder.violations:
            ops = ", ".join(f"{op} x{n}" for op, n in recorder.violations.most_common(6))
            problems.append(f"forward computed outside Triton kernels: {ops}")
        elif self.monitor.launches > launches and recorder.unused_inputs():
            problems.append(f"input tensors {recorder.unused_inputs()} never reached a Triton kernel")
        outputs = flatten_tensors(result)
        if any(type(t) is not torch.Tensor for t in outputs):
            problems.append(f"forward must return plain torch.Tensor objects, not {sorted({type(t).__name__ for t in outputs})}")
            return None
        if any(str(t.device).split(":")[0] != self.device for t in outputs):
            problems.append(f"outputs must stay on {self.device}")
        tensors_in = [x for x in inputs if isinstance(x, torch.Tensor)]
        if any(checks.overlaps(out, x) for out in outputs for x in tensors_in):
            problems.append("an output shares memory with an input (an input or a view of it was returned)")
        if any(isinstance(x, torch.Tensor) and not _same(x, p) for x, p in zip(inputs, pristine)):
            problems.append("forward modified its input tensors")
            for x, p in zip(inputs, pristine):  # later trials must see the inputs they were given
                if isinstance(x, torch.Tensor):
                    x.copy_(p)
        return [t.detach() for t in outputs]

    def ghost_unchanged(self, model: torch.nn.Module, inputs: list, outputs: list[torch.Tensor]) -> bool:
        """Run again with every launch a no-op: a genuine solution's output must change.

        The real outputs are poisoned first, so a solution that hands back the same buffer
        (a reused output, a cached tensor) shows up as changed rather than as a false alarm.
        """
        kept = [o.clone() for o in outputs]
        for out in outputs:
            checks.poison(out)
        self.monitor.ghost = True
        try:
            with torch.no_grad(), AtenRecorder(self.monitor, inputs, poison=True):
                ghost = flatten_tensors(model(*inputs))
            self.clock.synchronize()
        except Exception:  # noqa: BLE001 - failing without its kernels is what a genuine solution does
            return False
        finally:
            self.monitor.ghost = False
        return len(ghost) == len(kept) and all(type(g) is torch.Tensor and _same(g.detach(), o) for g, o in zip(ghost, kept))

    def save(self, key: str, outputs: list[torch.Tensor], split: str) -> list[dict]:
        """Keep outputs for the grader: whole when small, else a sample drawn now (after the forward)."""
        saved, size = [], protocol.sample_size(split)
        for i, out in enumerate(outputs):
            name = f"{key}.{i}"
            entry = {"key": name, "shape": list(out.shape), "dtype": str(out.dtype).removeprefix("torch."), "sample_seed": None}
            if out.numel() > size:
                entry["sample_seed"] = fresh_seed()
                entry["nonfinite"] = int((~torch.isfinite(out)).sum()) if out.is_floating_point() else 0
                index = protocol.sample_indices(out.numel(), entry["sample_seed"], size).to(out.device)
                out = out.reshape(-1)[index]
            self.tensors[name] = out.to("cpu").contiguous().clone()
            saved.append(entry)
        return saved

    def check_compiles(self) -> None:
        self.records["fatal"] += self.monitor.describe_errors[:3]
        for launch in self.monitor.signatures.values():
            error = ttir.compile_error(launch)
            if error:
                self.records["fatal"].append(error)

    # ------------------------------------------------------------------ GPU timing
    def drawer(self, shape: dict):
        """``() -> (seed, inputs)``: new inputs for ``shape`` from a fresh seed, for each timed repeat."""

        def draw() -> tuple[int, list]:
            seed = fresh_seed()
            return seed, self.problem.make_inputs(shape, seed, self.device)

        return draw

    def time_trusted_models(self) -> None:
        """Eager PyTorch and the starter, timed before any solution code is loaded."""
        baseline_cls = None
        baseline_path = self.data_dir / protocol.BASELINE
        if baseline_path.is_file():
            baseline_cls = import_file(baseline_path, "rsigym_kernel_baseline").ModelNew
        settings = self.plan["timing"]
        for index, shape in enumerate(self.plan["shapes"]):
            init_seed = fresh_seed()
            entry = self.records["timing"].setdefault(str(index), {})
            for label, cls in (("eager", self.problem.module.Model), ("baseline", baseline_cls)):
                if cls is None:
                    continue
                model = self.problem.make_model(cls, shape, init_seed, self.device)
                forward = model if label == "eager" else self.watched(model)[0]  # same conditions as the solution
                stats = timing.benchmark(forward, self.drawer(shape), self.clock, settings["repeats"], settings["warmup"])
                entry[label] = stats._asdict()
            self.release_memory()

    def time_solution(self, model_cls: type) -> None:
        """Time the solution per shape, saving every timed output (with its seed) for the grader."""
        settings = self.plan["timing"]
        for index, shape in enumerate(self.plan["shapes"]):
            init_seed = fresh_seed()

            def keep(seed: int, result: Any, index: int = index, init_seed: int = init_seed) -> None:
                trial = {"id": f"timing{index}.{seed}", "split": "timing", "shape": index, "seed": seed,
                         "init_seed": init_seed, "problems": []}
                outputs = flatten_tensors(result)
                if any(type(t) is not torch.Tensor for t in outputs):
                    trial["problems"].append("while timed, forward returned something other than plain tensors")
                else:
                    trial["outputs"] = self.save(trial["id"], [t.detach() for t in outputs], "timing")
                self.records["trials"].append(trial)

            try:
                model = self.problem.make_model(model_cls, shape, init_seed, self.device)
                forward, recorder = self.watched(model)
                stats = timing.benchmark(forward, self.drawer(shape), self.clock, settings["repeats"], settings["warmup"], keep)
            except Exception as err:  # noqa: BLE001 - any failure of the solution is recorded
                self.records["fatal"].append(f"timing shape {index}: {describe_error(err)}")
                return
            if recorder.violations:  # a solution that behaves only while its correctness is checked
                self.records["fatal"].append(f"while timed, forward computed outside Triton: {dict(recorder.violations)}")
            self.records["timing"].setdefault(str(index), {})["solution"] = stats._asdict()
            del model
            self.release_memory()

    def release_memory(self) -> None:
        if self.device == "cuda":
            torch.cuda.empty_cache()

    def watched(self, model: torch.nn.Module) -> tuple[Any, AtenRecorder]:
        """``model`` called under a (non-poisoning) recorder, so that timed calls are watched too."""
        recorder = AtenRecorder(self.monitor, (), poison=False)

        def forward(*inputs):
            with recorder:
                return model(*inputs)

        return forward, recorder

    # ------------------------------------------------------------------ output
    def write(self) -> None:
        safetensors.torch.save_file(self.tensors, str(self.output_dir / protocol.OUTPUTS))
        (self.output_dir / protocol.RECORDS).write_text(json.dumps(self.records, indent=1))


def _autotune_without_timing() -> None:
    """Under the interpreter there is no device to time configs on (Triton's autotuner needs a
    driver): every config ties, so ``@triton.autotune`` solutions run with their first config."""
    from triton.runtime.autotuner import Autotuner

    def tie(self, *args, config, **kwargs):
        return [0.0, 0.0, 0.0]

    tie.__wrapped__ = Autotuner._bench
    Autotuner._bench = tie


def _derives_from(cls: Any, base: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, base)


def _take_nonce(path: Path) -> str:
    try:
        nonce = path.read_text().strip()
        path.unlink()
    except OSError:
        return ""
    return nonce


def main() -> int:
    data_dir = Path(os.environ["RSI_DATA_DIR"])
    output_dir = Path(os.environ["RSI_OUTPUT_DIR"])
    harness = Harness(data_dir, output_dir, Path.cwd() / protocol.SOLUTION)
    harness.run()
    harness.write()
    return 0
