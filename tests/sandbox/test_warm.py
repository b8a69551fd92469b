"""Warm workers: a forked run must be indistinguishable from a cold ``python`` start."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rsigym.sandbox import LocalSandbox
from rsigym.sandbox.pylaunch import Program, parse_python_command, simple_command

PY = sys.executable

# (files, argv after the interpreter, env): each program runs warm and cold; outputs must match.
PROGRAMS = {
    "script_argv_and_path": (
        {"tool/main.py": "import sys, os; print(sys.argv, sys.path[0] == os.path.dirname(os.path.abspath(__file__)))"},
        ["tool/main.py", "a", "--b"],
        {},
    ),
    "module_from_pythonpath": (
        {"lib/pkg/__init__.py": "", "lib/pkg/__main__.py": "import sys; print('module', sys.argv[1:], __name__)"},
        ["-m", "pkg", "x"],
        {"PYTHONPATH": "{cwd}/lib"},
    ),
    "isolated_ignores_pythonpath": (
        {"lib/shadow.py": "print('imported')"},
        ["-I", "-c", "import importlib.util as u, sys; print(u.find_spec('shadow') is None, sys.argv)", "arg"],
        {"PYTHONPATH": "{cwd}/lib"},
    ),
    "exit_with_text": ({}, ["-c", "import sys; sys.exit('bad input')"], {}),
    "uncaught_exception": ({"boom.py": "def f():\n    return 1 / 0\nf()\n"}, ["boom.py"], {}),
    "non_daemon_thread_joined": (
        {"t.py": "import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.2), print('late'))).start()\n"},
        ["t.py"],
        {},
    ),
    "atexit_runs": ({}, ["-c", "import atexit; atexit.register(print, 'bye'); print('hi')"], {}),
    "killed_by_signal": ({}, ["-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], {}),
    "environment_is_the_runs": ({}, ["-c", "import os; print(os.environ['ONLY_HERE'], 'HOME' in os.environ)"], {"ONLY_HERE": "yes"}),
    "pickles_main_classes": (
        {"p.py": "import pickle\nclass A:\n    pass\nprint(type(pickle.loads(pickle.dumps(A()))).__name__)\n"},
        ["p.py"],
        {},
    ),
}


def _run(sandbox: LocalSandbox, root: Path, name: str):
    files, args, env = PROGRAMS[name]
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    env = {key: value.format(cwd=root) for key, value in env.items()}
    return sandbox.run([sandbox.python(), *args], root, timeout=60, env=env)


@pytest.mark.parametrize("confine", ["auto", False], ids=["confined", "process"])
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_warm_run_matches_cold_run(name: str, confine, tmp_path: Path):
    warm, cold = (LocalSandbox(confine=confine, warm=flag) for flag in (True, False))
    (tmp_path / "w").mkdir()
    (tmp_path / "c").mkdir()
    got, want = _run(warm, tmp_path / "w", name), _run(cold, tmp_path / "c", name)
    assert (got.returncode, got.killed_reason) == (want.returncode, want.killed_reason)
    assert got.stdout.replace(str(tmp_path / "w"), "<cwd>") == want.stdout.replace(str(tmp_path / "c"), "<cwd>")
    # Tracebacks name the same lines; only the folder differs.
    assert got.stderr.replace(str(tmp_path / "w"), "<cwd>") == want.stderr.replace(str(tmp_path / "c"), "<cwd>")


def test_warm_runs_share_no_state(tmp_path: Path):
    sandbox = LocalSandbox(warm=True)
    (tmp_path / "m.py").write_text("VALUE = 1\n")
    code = "import m, random, numpy; print(m.VALUE, random.random(), numpy.random.rand())"
    first = sandbox.run([PY, "-c", code], tmp_path, timeout=60)
    (tmp_path / "m.py").write_text("VALUE = 2\n")
    second = sandbox.run([PY, "-c", code], tmp_path, timeout=60)
    assert first.ok and second.ok, (first, second)
    one, two = first.stdout.split(), second.stdout.split()
    assert (one[0], two[0]) == ("1", "2")  # the module is imported afresh, from the new file
    assert one[1] != two[1] and one[2] != two[2]  # seeds are drawn per run, as in a cold start


def test_server_survives_a_crashing_run(tmp_path: Path):
    sandbox = LocalSandbox(warm=True)
    crash = sandbox.run([PY, "-c", "import os; os.abort()"], tmp_path, timeout=60)
    assert crash.returncode != 0 and not crash.ok
    after = sandbox.run([PY, "-c", "print('still here')"], tmp_path, timeout=60)
    assert after.ok and after.stdout.strip() == "still here"


def test_warm_run_times_out_and_is_killed(tmp_path: Path):
    sandbox = LocalSandbox(warm=True)
    result = sandbox.run([PY, "-c", "import time; time.sleep(30)"], tmp_path, timeout=1)
    assert result.timed_out and result.seconds < 10 and "timeout" in result.killed_reason


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([PY, "s.py", "x"], Program("script", "s.py", ("x",))),
        ([PY, "-u", "-m", "pkg"], Program("module", "pkg", (), unbuffered=True)),
        ([PY, "-I", "-c", "pass", "a"], Program("code", "pass", ("a",), True, True)),
        ([PY, "-IB", "s.py"], Program("script", "s.py", (), True, True, no_bytecode=True)),
        ([PY, "-X", "dev", "s.py"], None),  # an option a fork cannot honour: cold start
        ([PY, "-W", "error", "s.py"], None),
        ([PY], None),
        (["/bin/sh", "-c", "python s.py"], None),
        (["/usr/bin/python3.9", "s.py"], None),  # another interpreter
    ],
)
def test_parse_python_command(argv, expected):
    assert parse_python_command(argv, PY) == expected


@pytest.mark.parametrize(
    "cmd, expected",
    [
        ("python train.py --lr 0.1", ["python", "train.py", "--lr", "0.1"]),
        ("python 'my script.py' --lr=0.1", ["python", "my script.py", "--lr=0.1"]),
        ("python a.py > out.txt", None),
        ("python a.py && echo done", None),
        ("A=1 python a.py", ["A=1", "python", "a.py"]),  # not a python command: starts cold
        ("python $HOME/a.py", None),
        ("python a.py; rm -rf x", None),
        ("python *.py", None),
    ],
)
def test_simple_shell_commands_are_recognised(cmd, expected):
    assert simple_command(cmd) == expected


def test_shell_string_python_command_runs_warm(tmp_path: Path):
    (tmp_path / "argv.py").write_text("import sys; print(sys.argv[1:], 'torch' in sys.modules)")
    result = LocalSandbox(warm=True).run("python argv.py 'two words'", tmp_path, timeout=60)
    assert result.ok and result.stdout.strip() == "['two words'] True", result  # torch came with the fork
    result = LocalSandbox(warm=True).run("python argv.py 'two words' | cat", tmp_path, timeout=60)
    assert result.ok and result.stdout.strip() == "['two words'] False", result  # a pipeline starts cold


def test_a_forked_client_neither_uses_nor_stops_the_parents_server(tmp_path: Path):
    import os

    from rsigym.sandbox import warm

    sandbox = LocalSandbox(warm=True)
    assert sandbox.run([PY, "-c", "pass"], tmp_path, timeout=60).ok
    servers = dict(warm._servers)
    child = os.fork()
    if child == 0:  # a forked copy of the client (a vector-env worker, say), leaving through atexit
        code = 1
        try:
            result = sandbox.run([PY, "-c", "print('child')"], tmp_path, timeout=60)
            mine = [s for s in warm._servers.values() if s.owner_pid == os.getpid()]
            code = 0 if result.ok and len(mine) == 1 else 1
        finally:
            warm._close_servers()
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert all(server.alive() for server in servers.values())
    assert sandbox.run([PY, "-c", "print('parent')"], tmp_path, timeout=60).stdout.strip() == "parent"
    assert {id(s) for s in warm._servers.values()} >= {id(s) for s in servers.values()}
