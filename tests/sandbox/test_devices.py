"""Devices passed into a sandbox, tested for real on a CPU machine with nodes made by ``mknod``,
and GPU discovery on a fake ``/dev``. The GPU check itself (CUDA and a Triton launch inside
the sandbox) is marked ``gpu``."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rsigym.sandbox import LocalSandbox, gpu
from rsigym.sandbox.conformance import ConformanceError, check_gpu, run_check
from rsigym.sandbox.local import confinement_available

NULL = os.stat("/dev/null").st_rdev  # a node with /dev/null's numbers: harmless to open and write

needs_mknod = pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
needs_confinement = pytest.mark.skipif(not confinement_available(), reason="confined mode needs root and unshare")


def make_node(path: Path, mode: int = 0o666, gid: int = 0) -> Path:
    os.mknod(path, stat.S_IFCHR | mode, NULL)
    os.chmod(path, mode)  # mknod applies the umask
    os.chown(path, 0, gid)
    return path


@pytest.fixture
def nodes(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "nodes"
    folder.mkdir()
    # One open to everyone, one only to its group: the throw-away uid must open both.
    return [make_node(folder / "rsigym-test-dev", 0o666), make_node(folder / "rsigym-group-dev", 0o660, gid=4242)]


@needs_mknod
@needs_confinement
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_confined_run_sees_exactly_the_devices_it_was_given(nodes, tmp_path: Path, warm: bool):
    sandbox = LocalSandbox(confine=True, warm=warm, devices=[str(node) for node in nodes])
    assert sandbox.devices() == tuple(map(str, nodes))
    run_check(sandbox, "devices", tmp_path / "check")
    work = tmp_path / "work"
    work.mkdir()
    probe = "import os; fd = os.open('/dev/rsigym-group-dev', os.O_RDWR); os.write(fd, b'x'); print(sorted(os.getgroups()))"
    result = sandbox.run([sandbox.python(), "-c", probe], work, 60)
    assert result.ok and result.stdout.strip() == "[4242]", result


@needs_mknod
@needs_confinement
def test_device_check_fails_when_a_given_device_is_not_there(nodes, tmp_path: Path):
    class Forgetful(LocalSandbox):  # claims a device it never binds
        def devices(self):
            return (*super().devices(), str(nodes[1]))

    with pytest.raises(ConformanceError, match="missing"):
        run_check(Forgetful(confine=True, devices=[str(nodes[0])]), "devices", tmp_path)


@needs_mknod
@needs_confinement
def test_device_check_fails_when_an_unlisted_device_is_visible(nodes, tmp_path: Path):
    class Hiding(LocalSandbox):  # binds a device it does not declare
        def devices(self):
            return ()

    with pytest.raises(ConformanceError, match="not given"):
        run_check(Hiding(confine=True, devices=[str(nodes[0])]), "devices", tmp_path)


def test_process_mode_cannot_hide_host_devices(tmp_path: Path):
    sandbox = LocalSandbox(confine=False)
    assert "devices" in sandbox.known_gaps
    with pytest.raises(ConformanceError):
        run_check(sandbox, "devices", tmp_path)


@pytest.fixture
def fake_dev(tmp_path: Path) -> Path:
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"):
        (dev / name).touch()  # discovery looks at names only; binding is tested with real nodes above
    (dev / "dri").mkdir()
    return dev


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    gpus = tmp_path / "proc" / "driver" / "nvidia" / "gpus"
    # PCI order differs from minor order: bus 0000:1b holds minor 2, 0000:3d minor 0, 0000:9a minor 1.
    for bus, minor in (("0000:3d:00.0", 0), ("0000:9a:00.0", 1), ("0000:1b:00.0", 2)):
        (gpus / bus).mkdir(parents=True)
        (gpus / bus / "information").write_text(f"Model: \t Fake GPU\nDevice Minor: \t {minor}\n")
    return tmp_path / "proc"


def test_all_gpus_pass_every_node_and_the_control_devices(fake_dev: Path, fake_proc: Path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")
    passed = gpu.discover("all", str(fake_dev), str(fake_proc))
    assert passed.enabled and passed.indices == (0, 1, 2)
    names = [os.path.basename(path) for path in passed.devices]
    assert names == ["nvidia0", "nvidia1", "nvidia2", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "dri"]
    assert passed.env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert "CUDA_VISIBLE_DEVICES" not in passed.env


def test_a_list_of_gpus_passes_only_those_in_cuda_numbering(fake_dev: Path, fake_proc: Path):
    passed = gpu.discover([2, 0], str(fake_dev), str(fake_proc))
    assert [os.path.basename(path) for path in passed.devices][:2] == ["nvidia2", "nvidia0"]
    assert "nvidia1" not in {os.path.basename(path) for path in passed.devices}
    # In PCI bus order minor 2 comes first (bus 1b) and minor 0 second (bus 3d).
    assert passed.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" and passed.env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert gpu.discover("1", str(fake_dev), str(fake_proc)).env["CUDA_VISIBLE_DEVICES"] == "2"


def test_none_hides_the_gpus_and_missing_ones_are_refused(fake_dev: Path, fake_proc: Path):
    passed = gpu.discover("none", str(fake_dev), str(fake_proc))
    assert not passed.enabled and passed.devices == () and passed.env == {"CUDA_VISIBLE_DEVICES": ""}
    with pytest.raises(ValueError, match=r"\[7\]"):
        gpu.discover([7], str(fake_dev), str(fake_proc))
    with pytest.raises(ValueError, match="gpus must be"):
        gpu.discover("some", str(fake_dev), str(fake_proc))


def test_no_gpu_host_passes_nothing(tmp_path: Path):
    assert gpu.discover("all", str(tmp_path), str(tmp_path)) == gpu.GpuPassthrough()
    assert not gpu.host_has_gpu(str(tmp_path))


def test_device_names_inside_the_sandbox():
    assert gpu.device_name_in_sandbox("/dev/nvidia0") == "/dev/nvidia0"
    assert gpu.device_name_in_sandbox("/dev/dri") == "/dev/dri"
    assert gpu.device_name_in_sandbox("/tmp/x/my-node") == "/dev/my-node"


@pytest.mark.gpu
@pytest.mark.skipif(not gpu.host_has_gpu(), reason="needs an NVIDIA GPU")
@pytest.mark.parametrize("confine", ["auto", False], ids=["local", "local-process"])
def test_cuda_and_triton_work_inside_the_sandbox(tmp_path: Path, confine):
    sandbox = LocalSandbox(confine=confine)
    assert sandbox.gpu.enabled, "the host shows no NVIDIA GPU"
    if sandbox.mode == "confined":
        run_check(sandbox, "devices", tmp_path / "devices")
    check_gpu(sandbox, tmp_path / "gpu")


@needs_mknod
@pytest.mark.docker
def test_docker_container_sees_exactly_the_devices_it_was_given(nodes, tmp_path: Path):
    from tests.sandbox.conftest import docker_or_skip

    docker_or_skip()
    from rsigym.sandbox.docker import DockerSandbox

    run_check(DockerSandbox(devices=[str(node) for node in nodes]), "devices", tmp_path)


@pytest.mark.docker
def test_docker_gpu_request_without_the_nvidia_runtime_names_the_fix():
    from tests.sandbox.conftest import docker_or_skip

    plain = docker_or_skip()
    if "nvidia" in (plain.client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime")
    from rsigym.sandbox.docker import DockerSandbox

    with pytest.raises(RuntimeError, match="nvidia-container-toolkit.*gpus=\"none\""):
        DockerSandbox(gpus=[0])
    assert DockerSandbox(gpus="none")._device_config() == {}


@pytest.fixture
def discovered_gpu(monkeypatch):
    """Discovery that reports one GPU with no nodes to bind: the variables, the Triton cache and
    /sys then take the GPU path for real on a CPU machine."""
    found = gpu.GpuPassthrough(indices=(0,), env={"CUDA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "compute"})
    monkeypatch.setattr("rsigym.sandbox.local.gpu_passthrough.discover", lambda gpus: found)
    return found


PROBE = """
import json, os
seen = {name: os.environ.get(name) for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "TRITON_CACHE_DIR")}
os.makedirs(seen["TRITON_CACHE_DIR"], exist_ok=True)
try:
    open("/sys/rsigym-probe", "w")
    seen["sys"] = "writable"
except OSError:
    seen["sys"] = "pci" if os.path.isdir("/sys/bus/pci") else "absent"
print(json.dumps(seen))
"""


@pytest.mark.parametrize("confine", [True, False], ids=["confined", "process"])
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_gpu_variables_and_a_private_triton_cache_reach_the_command(discovered_gpu, tmp_path: Path, confine, warm):
    if confine and not confinement_available():
        pytest.skip("confined mode needs root and unshare")
    import json

    sandbox = LocalSandbox(confine=confine, warm=warm)
    result = sandbox.run([sandbox.python(), "-c", PROBE], tmp_path, 60)
    assert result.ok, result
    seen = json.loads(result.stdout)
    assert seen["CUDA_VISIBLE_DEVICES"] == "0" and seen["NVIDIA_DRIVER_CAPABILITIES"] == "compute"
    if confine:
        assert seen["TRITON_CACHE_DIR"] == "/tmp/triton-cache", "in the run's private /tmp"
        assert seen["sys"] == "pci", "/sys is shown, read-only, when a GPU is passed"
    else:
        assert seen["TRITON_CACHE_DIR"] == str(tmp_path / ".rsigym-triton-cache")
        assert not (tmp_path / ".rsigym-triton-cache").exists(), "the run's Triton cache is removed afterwards"
