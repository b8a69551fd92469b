"""Running a ``python …`` command inside an already started interpreter, as ``python`` would.

A warm worker (:mod:`rsigym.sandbox.warm`) is a forked copy of a server that imported numpy,
torch and friends once. To run ``python solution.py`` there, the child must look like a
fresh ``python`` to the program: the same ``sys.argv``, ``sys.path`` (script folder or
current folder first, then ``PYTHONPATH``), ``__main__``, exit status and traceback on
stderr. This module parses the subset of the command line that can be reproduced that way;
anything else (``-X``, ``-W``, ``-O``, a shell string) is left to a cold start.

Standard library only: the forkserver imports it before it forks, and forked children may
run inside a view of the file system where rsigym itself is not visible.
"""
from __future__ import annotations

import atexit
import builtins
import importlib.machinery
import io
import os
import random
import runpy
import shlex
import sys
import threading
import traceback
import types
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

# Single-letter options that change nothing a forked child cannot reproduce:
# -I isolated, -E ignore PYTHON* variables, -s no user site, -u unbuffered, -B no .pyc, -q quiet.
_HARMLESS_FLAGS = frozenset("IEsuBq")


class Program(NamedTuple):
    """A Python program as ``python [flags] (script | -m module | -c code) args`` names it."""

    kind: str  # "script", "module" or "code"
    target: str  # script path, module name or source code
    args: tuple[str, ...]
    isolated: bool = False  # -I: neither the script's folder nor PYTHONPATH on sys.path
    ignore_environment: bool = False  # -E: PYTHONPATH ignored
    unbuffered: bool = False  # -u
    no_bytecode: bool = False  # -B


def parse_python_command(argv: Sequence[str], python: str) -> Program | None:
    """The :class:`Program` that ``argv`` runs when ``argv[0]`` is the interpreter ``python``
    (by path, or ``python``/``python3`` beside it); ``None`` when ``argv`` is anything else or
    uses an option a forked interpreter cannot honour."""
    if not argv or not _same_interpreter(argv[0], python):
        return None
    flags: set[str] = set()
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg in ("-c", "-m"):
            if index + 1 >= len(argv):
                return None
            kind = "code" if arg == "-c" else "module"
            return Program(kind, argv[index + 1], tuple(argv[index + 2 :]), *_flag_fields(flags))
        if arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            if not set(letters) <= _HARMLESS_FLAGS:
                return None
            flags.update(letters)
            index += 1
            continue
        return Program("script", arg, tuple(argv[index + 1 :]), *_flag_fields(flags))
    return None  # a bare interpreter reads stdin: not a program


def simple_command(cmd: str) -> list[str] | None:
    """``cmd`` as an argv when ``/bin/sh -c cmd`` would only split it into words (no
    variables, globs, redirections, pipes or lists), else ``None``."""
    if not cmd.strip() or any(char in cmd for char in _SHELL_SYNTAX):
        return None
    try:
        return shlex.split(cmd)
    except ValueError:
        return None


_SHELL_SYNTAX = frozenset("$`\\*?[]{}~<>|&;()#!\n")


def _flag_fields(flags: set[str]) -> tuple[bool, bool, bool, bool]:
    return "I" in flags, bool(flags & {"I", "E"}), "u" in flags, "B" in flags


def _same_interpreter(command: str, python: str) -> bool:
    if command == python:
        return True
    if os.sep in command or command not in ("python", "python3"):
        return False
    beside = Path(python).parent / command
    try:
        return beside.is_file() and beside.resolve() == Path(python).resolve()
    except OSError:
        return False


def run_program(program: Program, env: Mapping[str, str], base_path: Sequence[str]) -> int:
    """Run ``program`` in this process with environment ``env`` and return its exit status.

    ``base_path`` is ``sys.path`` as a fresh ``python -I`` has it (standard library and
    site-packages); the program's own entries go in front of it as ``python`` would put them.
    """
    os.environ.clear()
    os.environ.update(env)
    _fresh_state(env)
    from_env = {} if program.ignore_environment else env
    sys.dont_write_bytecode = program.no_bytecode or bool(from_env.get("PYTHONDONTWRITEBYTECODE"))
    _open_stdio(program.unbuffered or bool(from_env.get("PYTHONUNBUFFERED")))
    front: list[str] = []
    if not program.isolated:
        if program.kind == "script":
            front.append(str(Path(program.target).resolve().parent))
        else:
            front.append(os.getcwd() if program.kind == "module" else "")
    if not program.ignore_environment:
        front += [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:] = [*front, *base_path]
    try:
        if program.kind == "script":
            sys.argv = [program.target, *program.args]
            _run_script(program.target)
        elif program.kind == "module":
            sys.argv = ["-m", *program.args]  # run_module puts the module's file in argv[0]
            runpy.run_module(program.target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *program.args]
            _run_code(program.target)
        status = 0
    except SystemExit as stop:
        status = _exit_status(stop.code)
    except BaseException as error:  # noqa: BLE001 - the program's own failure, reported as python would
        frames = _program_frames(error.__traceback__)
        sys.excepthook(type(error), error.with_traceback(frames), frames)
        status = 1
    return _finish(status)


def _program_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback without the frames of this launcher and runpy, as a cold start shows it."""
    while tb is not None and tb.tb_frame.f_code.co_filename in (__file__, "<frozen runpy>"):
        tb = tb.tb_next
    return tb


def _run_script(target: str) -> None:
    path = os.path.abspath(target)  # python makes __file__ absolute but leaves argv[0] as given
    if not os.path.isfile(path):  # a folder or zip with __main__.py
        runpy.run_path(path, run_name="__main__")
        return
    main = _fresh_main()
    main.__file__ = path
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    with io.open_code(path) as source:
        code = compile(source.read(), path, "exec")
    exec(code, main.__dict__)  # noqa: S102 - it is the program


def _run_code(source: str) -> None:
    exec(compile(source, "<string>", "exec"), _fresh_main().__dict__)  # noqa: S102 - it is the program


def _fresh_main() -> types.ModuleType:
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    return main


def _open_stdio(unbuffered: bool) -> None:
    """New ``sys.stdout``/``sys.stderr`` on descriptors 1 and 2, buffered as ``python`` buffers
    them: output of a run that is later killed must already be in the pipe when unbuffered."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        raw = io.FileIO(fd, "w", closefd=False)
        stream = io.TextIOWrapper(
            raw if unbuffered else io.BufferedWriter(raw),
            encoding="utf-8",
            errors="backslashreplace" if name == "stderr" else "strict",
            line_buffering=name == "stderr" and not unbuffered,
            write_through=unbuffered,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _fresh_state(env: Mapping[str, str]) -> None:
    """Undo what the fork copied that a fresh interpreter would not share: random seeds
    (drawn from the OS at start-up) and thread counts (read from the environment)."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    threads = env.get("OMP_NUM_THREADS", "")
    if torch is not None and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish(status: int) -> int:
    """What the interpreter does on the way out: join threads, run atexit, flush."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # waits for non-daemon threads
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        status = status or 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return status
