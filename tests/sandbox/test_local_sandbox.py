"""The local provider beyond the shared suite: mode choice, lending cwd, clean-up, guards."""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

import rsigym
from rsigym.sandbox import LocalSandbox
from rsigym.sandbox.common import lend, remove_unsafe_entries, require_scratch_dir
from rsigym.sandbox.local import confinement_available

needs_confinement = pytest.mark.skipif(not confinement_available(), reason="confined mode needs root and unshare")


@pytest.fixture(scope="module")
def confined() -> LocalSandbox:
    if not confinement_available():
        pytest.skip("confined mode needs root and unshare")
    return LocalSandbox(confine=True)


def test_auto_mode_is_confined_exactly_when_it_works():
    sandbox = LocalSandbox()
    assert sandbox.mode == ("confined" if confinement_available() else "process")
    assert LocalSandbox(confine=False).mode == "process"


def test_confined_mode_refused_where_impossible(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeError, match="confined mode needs root"):
        LocalSandbox(confine=True)


@pytest.mark.parametrize("folder", ["/", "/usr", "/usr/lib/x", "/etc", "/home", "/tmp", "/dev/shm", "/var"])
def test_system_folders_are_never_a_working_directory(folder: str):
    with pytest.raises(ValueError, match="scratch directory"):
        require_scratch_dir(Path(folder))


def test_scratch_folders_are_accepted(tmp_path: Path):
    assert require_scratch_dir(tmp_path / "run") == (tmp_path / "run").resolve()


def test_lend_refuses_a_tree_of_several_owners(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("making a file of another owner needs root")
    stranger = tmp_path / "theirs.txt"
    stranger.write_text("x")
    os.chown(stranger, 4321, 4321)
    with pytest.raises(ValueError, match="other owners"):
        with lend(tmp_path, 1234, 1234):
            pass
    assert stranger.stat().st_uid == 4321 and tmp_path.stat().st_uid == os.getuid()


def test_remove_unsafe_entries_keeps_files_and_inner_links(tmp_path: Path):
    (tmp_path / "kept.txt").write_text("k")
    (tmp_path / "inner").symlink_to("kept.txt")
    (tmp_path / "outer").symlink_to("/etc/hostname")
    os.mkfifo(tmp_path / "fifo")
    removed = remove_unsafe_entries(tmp_path)
    assert sorted(path.name for path in removed) == ["fifo", "outer"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["inner", "kept.txt"]


@needs_confinement
def test_cwd_is_lent_then_given_back_with_new_files(confined: LocalSandbox, tmp_path: Path):
    run, data = tmp_path / "run", tmp_path / "run" / "data"
    data.mkdir(parents=True)
    (data / "public.txt").write_text("p")
    result = confined.run("id -u > uid.txt && mkdir -p out && echo r > out/result.txt", run, 30, readonly=[data])
    assert result.ok, result
    inside_uid = int((run / "uid.txt").read_text())
    assert inside_uid not in (0, os.getuid())
    owners = {path.stat().st_uid for path in [run, *run.rglob("*")]}
    assert owners == {os.getuid()}, "every file in cwd, new ones too, returns to the caller"


@needs_confinement
def test_concurrent_runs_get_their_own_uids(confined: LocalSandbox, tmp_path: Path):
    results = {}

    def work(index: int) -> None:
        folder = tmp_path / str(index)
        folder.mkdir()
        results[index] = confined.run("id -u; sleep 1", folder, 30)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    uids = {result.stdout.strip() for result in results.values()}
    assert all(result.ok for result in results.values()) and len(uids) == 3


@needs_confinement
def test_confined_view_holds_only_what_a_run_needs(confined: LocalSandbox, tmp_path: Path):
    hidden = ["/run", "/home", "/opt", "/var", str(Path(rsigym.__file__).parent)]  # sockets, homes, sources
    code = f"import json, os; print(json.dumps([sorted(os.listdir('/')), [*filter(os.path.exists, {hidden!r})]]))"
    result = confined.run([confined.python(), "-c", code], tmp_path, 30)
    assert result.ok, result
    top, present = json.loads(result.stdout)
    allowed = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "tmp"}
    # Besides system folders, only the first folders of the interpreter's prefixes show.
    allowed |= {Path(prefix).parts[1] for prefix in (sys.prefix, sys.base_prefix)}
    assert set(top) <= allowed
    assert present == []


@pytest.mark.slow
@needs_confinement
def test_solution_runtime_imports_in_confined_mode(confined: LocalSandbox, tmp_path: Path):
    code = "import numpy, sklearn, torch; print('runtime', torch.ones(3).sum().item())"
    result = confined.run([confined.python(), "-c", code], tmp_path, 120)
    assert result.ok and "runtime 3.0" in result.stdout, result


def test_output_tail_says_how_much_was_cut(tmp_path: Path):
    from rsigym.sandbox import Limits

    result = LocalSandbox().run("head -c 100000 /dev/zero | tr '\\0' x", tmp_path, 30, limits=Limits(output_bytes=1000))
    assert result.ok and result.stdout.startswith("[... 99000 bytes cut ...]")
    assert result.stdout.endswith("x" * 1000)
