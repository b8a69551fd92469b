"""The docker provider beyond the shared suite, against a real engine and the built image."""
from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import rsigym.envs

from rsigym.sandbox import Limits, Sandbox

pytestmark = pytest.mark.docker


def _our_containers(sandbox: Sandbox) -> list:
    return sandbox.client.containers.list(all=True, filters={"label": "rsigym.sandbox"})


@pytest.mark.parametrize(
    "cmd, timeout",
    [("echo done", 30), ("sleep 30", 1), (["/nonexistent/program"], 30)],
    ids=["exits", "times-out", "cannot-start"],
)
def test_container_removed_on_every_way_out(docker_sandbox: Sandbox, tmp_path: Path, cmd, timeout: float):
    before = {container.id for container in _our_containers(docker_sandbox)}
    docker_sandbox.run(cmd, tmp_path, timeout)
    after = {container.id for container in _our_containers(docker_sandbox)}
    assert after <= before


def test_orphans_of_dead_callers_are_removed(docker_sandbox: Sandbox):
    from rsigym.sandbox.docker import DockerSandbox

    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid is free now: the owner of the orphan below is gone
    orphan = docker_sandbox.client.containers.create(
        docker_sandbox.image,
        ["true"],
        labels={"rsigym.sandbox": "1", "rsigym.sandbox.owner": f"{socket.gethostname()}:{dead.pid}"},
    )
    DockerSandbox(image=docker_sandbox.image, client=docker_sandbox.client)
    assert orphan.id not in {container.id for container in _our_containers(docker_sandbox)}


def test_missing_image_is_a_clear_error(docker_sandbox: Sandbox):
    from rsigym.sandbox.docker import DockerSandbox

    with pytest.raises(RuntimeError, match="build_image.sh"):
        DockerSandbox(image="rsigym-sandbox:no-such-tag", client=docker_sandbox.client)


def test_memory_kill_is_named(docker_sandbox: Sandbox, tmp_path: Path):
    code = "blocks = [bytearray(b'1') * (64 << 20) for _ in range(16)]"
    result = docker_sandbox.run(["python3", "-c", code], tmp_path, 60, limits=Limits(memory_bytes=256 << 20))
    assert result.returncode < 0 and result.killed_reason == "memory limit", result


def test_task_paths_hold_inside(docker_sandbox: Sandbox, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.csv").write_text("1,2\n")
    run = tmp_path / "run"
    (run / "out").mkdir(parents=True)
    code = "import os, shutil; e = os.environ; shutil.copy(e['RSI_DATA_DIR'] + '/x.csv', e['RSI_OUTPUT_DIR'] + '/y.csv')"
    env = {"RSI_DATA_DIR": str(data), "RSI_OUTPUT_DIR": str(run / "out")}
    result = docker_sandbox.run(["python3", "-c", code], run, 60, env=env, readonly=[data])
    assert result.ok, result
    assert (run / "out" / "y.csv").read_text() == "1,2\n"
    assert (run / "out" / "y.csv").stat().st_uid == os.getuid()


def test_image_holds_the_solution_runtime(docker_sandbox: Sandbox, tmp_path: Path):
    """numpy, CPU torch, scikit-learn and a Triton kernel under the interpreter, in the image."""
    (tmp_path / "probe.py").write_text(
        """
import numpy, sklearn, safetensors, torch, triton, triton.language as tl

@triton.jit
def add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)

x, y, out = torch.arange(100.0), torch.ones(100), torch.empty(100)
add[(triton.cdiv(100, 32),)](x, y, out, 100, BLOCK=32)
print("kernel", bool(torch.equal(out, x + y)), "cuda", torch.cuda.is_available())
"""
    )
    result = docker_sandbox.run(["python3", "probe.py"], tmp_path, 300, env={"TRITON_INTERPRET": "1"})
    assert result.ok and "kernel True cuda False" in result.stdout, result


def _third_party_imports_of_sandboxed_code() -> set[str]:
    """Top-level modules imported by code that runs in the sandbox (task starters, the
    workspace's lib/, harnesses), less the standard library and those modules themselves."""
    root = Path(rsigym.envs.__file__).parent
    files = [path for path in root.rglob("*.py") if {"starter", "lib", "harness"} & set(path.relative_to(root).parts)]
    local = {path.stem for path in files} | {parent.name for path in files for parent in path.parents}
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - local


def test_image_has_every_module_sandboxed_code_imports(docker_sandbox: Sandbox, tmp_path: Path):
    modules = sorted(_third_party_imports_of_sandboxed_code())
    assert {"numpy", "torch"} <= set(modules), "the scan should find the tasks' imports"
    code = f"import importlib.util as u, json; print(json.dumps([m for m in {modules!r} if u.find_spec(m) is None]))"
    result = docker_sandbox.run(["python3", "-c", code], tmp_path, 60)
    assert result.ok, result
    assert json.loads(result.stdout) == [], "add them to docker/requirements.txt and rebuild the image"
