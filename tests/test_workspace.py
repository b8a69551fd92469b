import os

import pytest

from rsigym.workspace import PathRefused, Workspace, edit_kind


@pytest.fixture
def workspace(tmp_path):
    starter = tmp_path / "starter"
    starter.mkdir()
    (starter / "solution.py").write_text("print('hi')\n")
    return Workspace.create(tmp_path / "ws", tmp_path / "history.git", {"t": starter}, files={"harness/extra.md": "x"})


def test_layout_and_history_outside_the_workspace(workspace):
    for folder in ("harness", "tasks", "lib", "weights"):
        assert (workspace.root / folder).is_dir()
    assert (workspace.root / "tasks/t/solution.py").read_text() == "print('hi')\n"
    assert (workspace.root / "harness/extra.md").read_text() == "x"
    assert not (workspace.root / ".git").exists()
    assert workspace.history.is_dir()


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "tasks/../../x", ".git/config", "a/.git/HEAD", "", "a\x00b"])
def test_escaping_paths_are_refused(workspace, path):
    with pytest.raises(PathRefused):
        workspace.resolve(path)


def test_symlinks_inside_the_workspace_are_refused(workspace, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    os.symlink(secret, workspace.root / "tasks/link.txt")
    os.symlink(tmp_path, workspace.root / "lib/outside")
    for path in ("tasks/link.txt", "lib/outside/secret.txt"):
        with pytest.raises(PathRefused, match="symlink"):
            workspace.read(path)
        with pytest.raises(PathRefused):
            workspace.write(path, "overwrite")
    assert secret.read_text() == "private"


def test_commit_and_restore_removes_files_added_later(workspace):
    first = workspace.commit("iteration 0")
    workspace.write("tasks/t/solution.py", "print('changed')\n")
    workspace.write("tasks/t/new/file.py", "x = 1\n")
    workspace.commit("iteration 1")
    workspace.write("lib/uncommitted.py", "y = 2\n")
    workspace.restore(first)
    assert (workspace.root / "tasks/t/solution.py").read_text() == "print('hi')\n"
    assert not (workspace.root / "tasks/t/new").exists()
    assert not (workspace.root / "lib/uncommitted.py").exists()
    assert (workspace.root / "weights").is_dir()


def test_edit_kinds_follow_the_path():
    assert edit_kind("harness/memory.md") == "harness"
    assert edit_kind("weights/model.safetensors") == "weight"
    assert edit_kind("tasks/digits/solution.py") == "code"
    assert edit_kind("lib/tabular.py") == "code"


def test_memory_head_shows_the_first_lines(workspace):
    workspace.write("harness/memory.md", "\n".join(f"note {i}" for i in range(100)))
    head = workspace.memory_head(lines=5)
    assert head.splitlines() == [f"note {i}" for i in range(5)]
