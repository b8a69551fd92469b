"""Carrying out the workspace ops (write, patch, read, run, merge, revert) for :class:`RSIEnv`.

:func:`apply` turns the errors a policy can cause into an :class:`OpResult` with a message
that says what to fix; anything unforeseen is caught by ``RSIEnv``'s step boundary.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from rsigym.actions import Op, is_utf8
from rsigym.constants import MAX_FILE_BYTES, MAX_KEEP_BYTES, MAX_WORKSPACE_BYTES, READ_CHARS, RUN_OUTPUT_CHARS
from rsigym.merging import MergeError, merge_checkpoints
from rsigym.patching import PatchError, apply_unified_diff
from rsigym.render import OpResult
from rsigym.workspace import PathRefused, edit_kind

if TYPE_CHECKING:
    from rsigym.env import RSIEnv

EDITING_OPS = frozenset({"write", "patch", "merge", "revert", "run"})


def apply(env: "RSIEnv", op: Op) -> OpResult:
    """Carry out one validated op on the env's workspace."""
    handler = _HANDLERS[op.name]
    path = op.path
    kind = edit_kind(path) if path and op.name in EDITING_OPS else None
    try:
        output = handler(env, op)
    except (PathRefused, PatchError, MergeError, FileNotFoundError, IsADirectoryError, UnicodeDecodeError, ValueError) as err:
        return OpResult(op.name, path, kind, False, str(err))
    except OSError as err:
        return OpResult(op.name, path, kind, False, f"{type(err).__name__}: {err.strerror or err}")
    return OpResult(op.name, path, kind, True, output=output)


def _room_left(env: "RSIEnv") -> int:
    """Bytes the workspace may still grow by before it holds :data:`MAX_WORKSPACE_BYTES`."""
    used = sum(path.stat().st_size for path in env.workspace_dir.rglob("*") if path.is_file() and not path.is_symlink())
    return MAX_WORKSPACE_BYTES - used


def _ensure_room(room: int, target: Path, size: int) -> int:
    """Room left once ``target`` holds ``size`` bytes; refuse when there is none."""
    growth = size - (target.stat().st_size if target.is_file() else 0)
    if growth > room:
        raise ValueError(f"the workspace may hold at most {MAX_WORKSPACE_BYTES} bytes; this edit would pass that "
                         f"by {growth - room}. Overwrite large files with smaller ones first")
    return room - growth


def _write(env: "RSIEnv", op: Op) -> str:
    content = op.args["content"].encode()
    if len(content) > MAX_FILE_BYTES:
        raise ValueError(f"content is {len(content)} bytes; a write holds at most {MAX_FILE_BYTES}")
    _ensure_room(_room_left(env), env.workspace.resolve(op.args["path"]), len(content))
    env.workspace.write(op.args["path"], content)
    return ""


def _patch(env: "RSIEnv", op: Op) -> str:
    path = env.workspace.resolve(op.args["path"])
    if not path.is_file():
        raise FileNotFoundError(f"{op.args['path']!r} does not exist; use write to create it")
    patched = apply_unified_diff(path.read_text(), op.args["diff"])
    if len(patched.encode()) > MAX_FILE_BYTES:
        raise ValueError(f"the patched file would exceed {MAX_FILE_BYTES} bytes")
    _ensure_room(_room_left(env), path, len(patched.encode()))
    env.workspace.write(op.args["path"], patched)
    return ""


def _read(env: "RSIEnv", op: Op) -> str:
    return env.workspace.read(op.args["path"], max_chars=READ_CHARS)


def _run(env: "RSIEnv", op: Op) -> str:
    """Run a command on a throw-away copy of the workspace; ``keep`` paths are copied back."""
    keep = [env.workspace.resolve(path) for path in op.args.get("keep", [])]
    timeout = float(op.args.get("timeout", 60))
    if env.compute_seconds is not None:
        timeout = min(timeout, max(env.compute_seconds - env.compute_used, 0.0))
        if timeout <= 0:
            raise ValueError("the compute budget is used up; no more run ops")
    with tempfile.TemporaryDirectory(prefix="rsigym-run-") as tmp:
        copy = Path(tmp) / "workspace"
        shutil.copytree(env.workspace_dir, copy, symlinks=False, ignore_dangling_symlinks=True)
        result = env.sandbox.run(
            op.args["cmd"],
            cwd=copy,
            timeout=timeout,
            env={"RSI_DATA_ROOT": str(env.data_root), "RSI_SEED": str(env.data_seed), "RSI_SCALE": env.scale,
                 "PYTHONPATH": str(copy / "lib")},
            readonly=[env.data_root],
        )
        env.compute_used += result.seconds
        kept = _copy_back(env, copy, keep)
    status = f"exit code {result.returncode}" + (f", {result.killed_reason}" if result.killed_reason else "")
    kept_note = f"\nkept: {', '.join(kept)}" if kept else ""
    return f"[{status}, {result.seconds:.1f} s]{kept_note}\n{result.tail(RUN_OUTPUT_CHARS)}"


def _copy_back(env: "RSIEnv", copy: Path, targets: list[Path]) -> list[str]:
    """Copy regular files under ``targets`` from the run's copy into the workspace."""
    kept, total, room = [], 0, _room_left(env)
    for target in targets:
        rel = target.relative_to(env.workspace_dir)
        source = copy / rel
        files = [source] if source.is_file() else sorted(source.rglob("*")) if source.is_dir() else []
        for file in files:
            if file.is_symlink() or not file.is_file():
                continue  # symlinks planted by the command never enter the workspace
            if not is_utf8(str(file.relative_to(copy))):
                raise ValueError(f"kept file {ascii(str(file.relative_to(copy)))} has a name that is not UTF-8; "
                                 "rename it in the run (nothing was kept from this file on)")
            total += file.stat().st_size
            if total > MAX_KEEP_BYTES:
                raise ValueError(f"kept files exceed {MAX_KEEP_BYTES} bytes; keep less")
            relative = str(file.relative_to(copy))
            room = _ensure_room(room, env.workspace.resolve(relative), file.stat().st_size)
            env.workspace.write(relative, file.read_bytes())
            kept.append(relative)
    return kept


def _merge(env: "RSIEnv", op: Op) -> str:
    inputs = [env.workspace.resolve(path) for path in op.args["inputs"]]
    for path, rel in zip(inputs, op.args["inputs"]):
        if not path.is_file():
            raise FileNotFoundError(f"{rel!r} does not exist")
    out = env.workspace.resolve(op.args["out"])
    if out.is_dir():
        raise IsADirectoryError(f"merge.out {op.args['out']!r} is a folder; name a file, e.g. 'weights/merged.safetensors'")
    _ensure_room(_room_left(env), out, max(path.stat().st_size for path in inputs))  # the average is as large as an input
    shapes = merge_checkpoints(inputs, op.args.get("weights"), out)
    return f"merged {len(inputs)} checkpoints ({len(shapes)} tensors) into {op.args['out']}"


def _revert(env: "RSIEnv", op: Op) -> str:
    iteration = op.args["iteration"]
    if iteration not in env.commits:
        raise ValueError(f"no iteration {iteration}; iterations so far: 0..{env.iteration}")
    env.workspace.restore(env.commits[iteration])
    return f"workspace restored to iteration {iteration}"


_HANDLERS: dict[str, Callable[["RSIEnv", Op], str]] = {
    "write": _write,
    "patch": _patch,
    "read": _read,
    "run": _run,
    "merge": _merge,
    "revert": _revert,
}
