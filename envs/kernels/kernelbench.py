"""KernelBench as users have it: a checkout's unchanged problem files become a kernel suite.

``load_kernelbench(<checkout>, levels=[1])`` (and ``suite="kernelbench:<dir>"``) finds the
``levelN`` folders, and turns each ``*.py`` problem into a task with :func:`load_problem`:

* **sizes**: KernelBench's globals are sized for a GPU. :func:`derive_sizes` scales every size
  global (an int of 8 or more, or a tuple of ints) down by one factor until each input has
  at most :data:`CI_MAX_ELEMENTS` elements, keeping the numbers irregular (odd); a problem whose
  constraints need even sizes (groups dividing channels, heads dividing a width) falls back to
  halving. Equal values stay equal (``num_classes`` and ``input_shape = (num_classes,)``). Each
  candidate is checked by building the model and running the reference forward on the CPU.
* **hidden shapes**: three ``ci`` shapes with different inputs, smallest first (it runs most);
  the third, the largest, is in the private split only, so a solution hard-coded to the public shapes
  fails; ``full`` is the file's own globals plus up to two scaled-down variants (where the
  reference runs on the meta device), the third private only.
* the workspace gets the template starter, and on a GPU eager PyTorch is the baseline;
* :func:`fast_p` reads KernelBench's metric (the fraction of problems solved correctly and
  more than ``p`` times faster than eager PyTorch) off an evaluation.

Derived sizes are cached per file content (in the temporary folder), so a suite loads fast
after its first import (``rsigym kernels import``).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable

import torch
from rsigym.envs.kernels import load_problem
from rsigym.envs.kernels.harness.problem_file import Problem, ProblemError, flatten_tensors
from rsigym.envs.kernels.task import KernelTask

CI_MAX_ELEMENTS = 65_536  # the largest input the Triton interpreter runs in seconds
MIN_SCALED = 8  # ints below this (dims, kernel sizes, strides) are left alone
CACHE_DIR = Path(tempfile.gettempdir()) / "rsigym-kernels" / "kernelbench-sizes"
_LEVEL = re.compile(r"level(\d+)")
# Globals that shape an operator rather than its data (scaling a kernel size below its padding
# breaks the operator): left alone on the first try.
_STRUCTURAL = re.compile(r"kernel|stride|pad|dilation|groups")
RELAXED_LIMITS = (4, 16)  # when inputs are partly hard-coded, the budget grows by these factors
Shape = dict[str, Any]


class SizeDerivationError(ProblemError):
    """No scaled-down shape of a problem fits the interpreter's budget and runs."""


def size_globals(problem: Problem, structural: bool = False) -> dict[str, Any]:
    """The file's globals that size its inputs: ints of at least :data:`MIN_SCALED`, and tuples or
    lists of ints holding one; kernel sizes, strides, paddings, dilations and groups only if
    ``structural``."""
    found = {}
    for name, value in problem.defaults.items():
        if name.startswith("_") or (not structural and _STRUCTURAL.search(name.lower())):
            continue
        if _is_int(value) and value >= MIN_SCALED:
            found[name] = value
        elif isinstance(value, (tuple, list)) and value and all(_is_int(v) for v in value) and max(value) >= MIN_SCALED:
            found[name] = value
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _irregular(value: int, factor: float) -> int:
    scaled = max(2, round(value * factor))
    return scaled - 1 if scaled > 4 and scaled % 2 == 0 else scaled  # odd: no power-of-two luck


def _halved(value: int, factor: float) -> int:
    return max(1, value >> max(0, round(-math.log2(factor))))  # keeps divisibility by powers of two


def _multiple_of(step: int) -> Callable[[int, float], int]:
    def rule(value: int, factor: float) -> int:
        return max(step, step * round(value * factor / step))  # channels split into groups or heads

    rule.__name__ = f"multiple_of_{step}"
    return rule


RULES = (_irregular, _halved, _multiple_of(4), _multiple_of(8), _multiple_of(16))


def scaled_shape(globals_: dict[str, Any], factor: float, rule: Callable[[int, float], int]) -> Shape:
    """Every size global scaled by ``factor`` with ``rule``; equal values stay equal."""
    def one(value: int) -> int:
        return rule(value, factor) if value >= MIN_SCALED else value

    shape: Shape = {}
    for name, value in globals_.items():
        shape[name] = type(value)(one(v) for v in value) if isinstance(value, (tuple, list)) else one(value)
    return shape


def input_shapes(problem: Problem, shape: Shape) -> list[tuple[int, ...]]:
    """Shapes of ``get_inputs()`` for ``shape``, built on the meta device (no memory)."""
    problem.apply(shape)
    with torch.device("meta"):
        inputs = list(problem.module.get_inputs())
    return [tuple(x.shape) for x in inputs if isinstance(x, torch.Tensor)]


def runs_on_cpu(problem: Problem, shape: Shape) -> bool:
    """Whether the reference builds and runs for ``shape`` (a small one) and gives finite outputs."""
    try:
        model = problem.make_model(problem.module.Model, shape, 0, "cpu")
        with torch.no_grad():
            outputs = flatten_tensors(model(*problem.make_inputs(shape, 0, "cpu")))
    except Exception:  # noqa: BLE001 - any failure means this shape does not work
        return False
    return all(isinstance(t, torch.Tensor) and (not t.is_floating_point() or bool(torch.isfinite(t).all())) for t in outputs)


def runs_on_meta(problem: Problem, shape: Shape) -> bool:
    """Whether the reference runs for ``shape`` on the meta device (full sizes: no memory, no time)."""
    try:
        problem.apply(shape)
        init = problem.module.get_init_inputs()
        with torch.device("meta"):
            model = problem.module.Model(*init)
            inputs = list(problem.module.get_inputs())
        with torch.no_grad():
            model(*inputs)
    except Exception:  # noqa: BLE001
        return False
    return True


def _fits(problem: Problem, shape: Shape, limit: int) -> bool:
    try:
        return all(math.prod(dims) <= limit for dims in input_shapes(problem, shape))
    except Exception:  # noqa: BLE001 - a scaled value the file cannot take
        return False


def _search(problem: Problem, globals_: dict, start: float, avoid: list[list[tuple]], limit: int,
            check: Callable[[Problem, Shape], bool]) -> Shape | None:
    """The largest factor from ``start`` down whose shape fits ``limit``, runs (``check``) and
    gives input shapes other than those in ``avoid``; odd sizes first (:data:`RULES`)."""
    for rule in RULES:
        factor, failures = start, 0
        while factor > 1e-6 and failures < 4:
            shape = scaled_shape(globals_, factor, rule)
            factor *= 0.85
            if not _fits(problem, shape, limit):
                continue
            try:
                shapes_in = input_shapes(problem, shape)
            except Exception:  # noqa: BLE001
                continue
            if shapes_in in avoid:
                continue
            if check(problem, shape):
                return shape
            failures += 1
    return None


def derive_sizes(problem: Problem, limit: int = CI_MAX_ELEMENTS) -> dict[str, list[Shape]]:
    """``{"ci": [3 shapes], "full": [1 to 3 shapes]}`` for a KernelBench file without ``SIZES``
    (see the module docstring). When no shape fits ``limit`` (inputs partly hard-coded in
    ``get_inputs``), the limit grows by :data:`RELAXED_LIMITS`. Raises
    :class:`SizeDerivationError` when nothing fits."""
    candidates = [size_globals(problem), size_globals(problem, structural=True)]
    candidates = [c for i, c in enumerate(candidates) if c not in candidates[:i]]
    found: tuple[dict, list[Shape]] = ({}, [])
    for budget in (limit, *(limit * factor for factor in RELAXED_LIMITS)):
        for globals_ in candidates:
            ci = _ci_shapes(problem, globals_, budget)
            if len(ci) > len(found[1]):
                found = (globals_, ci)
            if len(ci) == 3:
                break
        if len(found[1]) == 3:
            break
    globals_, ci = found
    problem.apply({})
    if len(ci) < 3:
        largest = max((math.prod(d) for d in input_shapes(problem, {})), default=0)
        raise SizeDerivationError(
            f"{problem.path.name}: found {len(ci)} of 3 shapes with every input at most {limit * RELAXED_LIMITS[-1]} "
            f"elements that the reference runs on (size globals {sorted(candidates[-1])}; the file's largest input has "
            f"{largest}); pass sizes= by hand"
        )
    ci.sort(key=lambda shape: sum(math.prod(dims) for dims in input_shapes(problem, shape)))  # the smallest runs most
    full: list[Shape] = [{}]
    seen = [input_shapes(problem, {})]
    for factor in (0.9, 0.75):  # a second public and a hidden full shape, where the meta device runs them
        shape = _search(problem, globals_, factor, seen, 2**62, runs_on_meta) if globals_ else None
        if shape is not None and _factor_of(globals_, shape) > 0.5:
            full.append(shape)
            seen.append(input_shapes(problem, shape))
    problem.apply({})
    return {"ci": ci, "full": full}


def _ci_shapes(problem: Problem, globals_: dict, limit: int) -> list[Shape]:
    """Up to three shapes under ``limit``, each smaller than the one before, with different inputs."""
    ci: list[Shape] = []
    seen: list[list[tuple]] = []
    start = 1.0
    for _ in range(3):
        shape = _search(problem, globals_, start, seen, limit, runs_on_cpu)
        if shape is None:
            break
        ci.append(shape)
        seen.append(input_shapes(problem, shape))
        start = _factor_of(globals_, shape) * 0.8
    return ci


def _factor_of(globals_: dict, shape: Shape) -> float:
    """The factor ``shape`` scaled the largest size global by."""
    def largest(values: dict) -> int:
        return max((max(v) if isinstance(v, (tuple, list)) else v) for v in values.values()) if values else 1

    return largest(shape) / largest(globals_) if globals_ else 1.0


def cached_sizes(path: Path) -> dict[str, list[Shape]]:
    """:func:`derive_sizes` of the file at ``path``, cached by its content. A cache entry that
    sets anything but the file's size globals (the temporary folder is shared) is derived anew."""
    source = Path(path).read_bytes()
    digest = hashlib.sha256(source + f"{CI_MAX_ELEMENTS}:{MIN_SCALED}:v4".encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"{Path(path).stem}-{digest}.json"
    problem = Problem(Path(path), f"rsigym_kernelbench_{digest}")
    if cache.is_file():
        try:
            sizes = json.loads(cache.read_text(), object_hook=_tuples_back)
        except ValueError:
            sizes = None
        if _plausible(sizes, size_globals(problem, structural=True)):
            return sizes
    sizes = derive_sizes(problem)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(sizes))
    return sizes


def _plausible(sizes: Any, globals_: dict[str, Any]) -> bool:
    """Whether cached ``sizes`` only set size globals, to ints or tuples of ints."""
    def fine(name: str, value: Any) -> bool:
        values = value if isinstance(value, tuple) else (value,)
        return name in globals_ and all(_is_int(v) and v > 0 for v in values)

    return (isinstance(sizes, dict) and set(sizes) == {"ci", "full"} and len(sizes["ci"]) == 3
            and all(isinstance(shape, dict) and all(fine(k, v) for k, v in shape.items())
                    for shapes in sizes.values() for shape in shapes))


def _tuples_back(entry: dict) -> dict:
    """JSON turns tuples into lists; KernelBench's tuples (``input_shape``) must come back as tuples."""
    return {key: tuple(value) if isinstance(value, list) and all(_is_int(v) for v in value) else value
            for key, value in entry.items()}


def problem_files(root: Path, levels: Iterable[int] | None = None) -> list[tuple[int, Path]]:
    """``(level, file)`` of every problem under a KernelBench checkout, its ``KernelBench`` folder or
    one ``levelN`` folder, in level then problem-number order."""
    root = Path(root).resolve()
    for inner in (root / "KernelBench", root):
        folders = sorted((p for p in inner.glob("level*") if p.is_dir() and _LEVEL.fullmatch(p.name)), key=_level_of)
        if folders:
            break
    else:
        folders = [root] if _LEVEL.fullmatch(root.name) else []
    if not folders:
        raise FileNotFoundError(f"{root}: no level1, level2... folders of KernelBench problems found")
    wanted = set(levels) if levels else None
    found = []
    for folder in folders:
        if wanted is None or _level_of(folder) in wanted:
            found += [(_level_of(folder), path) for path in sorted(folder.glob("*.py"), key=_number_of)]
    return found


def _level_of(folder: Path) -> int:
    return int(_LEVEL.fullmatch(folder.name).group(1))


def _number_of(path: Path) -> tuple[int, str]:
    number = re.match(r"(\d+)", path.name)
    return (int(number.group(1)) if number else 10**9, path.name)


def task_id_for(level: int, path: Path) -> str:
    return f"kernelbench-l{level}-" + re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")


def load_kernelbench(root: str | Path, levels: Iterable[int] | None = None,
                     on_error: Callable[[Path, Exception], None] | None = None) -> list[KernelTask]:
    """Tasks for the KernelBench problems under ``root`` (all levels, or ``levels``), with derived
    sizes. A file whose sizes cannot be derived raises, unless ``on_error(path, error)`` is given."""
    tasks = []
    for level, path in problem_files(Path(root), levels):
        try:
            sizes = cached_sizes(path)
            minutes = 10 if level == 1 else 30 if level == 2 else 120
            tasks.append(load_problem(path, task_id_for(level, path), sizes=sizes, human_minutes=minutes,
                                      title=f"KernelBench level {level}: {path.stem}"))
        except Exception as err:
            if on_error is None:
                raise
            on_error(path, err)
    return tasks


def fast_p(results: Iterable[Any], p: float = 1.0) -> float | None:
    """KernelBench's ``fast_p`` over task results (``TaskResult`` s): the fraction correct and more
    than ``p`` times faster than eager PyTorch (geometric mean over the public shapes). ``fast_0``
    is the fraction correct. ``None`` when speed was not measured (no GPU) and ``p > 0``."""
    results = list(results)
    if not results:
        return None
    hits = 0
    for result in results:
        if not result.grade.valid:
            continue
        speedup = (result.grade.details or {}).get("speedup_vs_eager")
        if p <= 0:
            hits += 1
        elif speedup is None:
            return None
        elif speedup > p:
            hits += 1
    return hits / len(results)
