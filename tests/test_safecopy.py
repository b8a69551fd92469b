"""Copying the agent's folders without following links (rsigym.safecopy)."""
import os

import pytest

from rsigym.safecopy import Mirror, UnsafeEntry, copy_regular_tree, unsafe_entries


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "private" / "labels.csv"
    path.parent.mkdir()
    path.write_text("id,target\n1,secret\n")
    return path


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "workspace"
    (root / "tasks/t/sub").mkdir(parents=True)
    (root / "tasks/t/solution.py").write_text("print(1)\n")
    (root / "tasks/t/sub/data.txt").write_text("data")
    (root / "tasks/t/__pycache__").mkdir()
    return root


def test_regular_trees_are_copied_whole(workspace, tmp_path):
    copy_regular_tree(workspace, "tasks/t", tmp_path / "copy", skip=lambda name: name == "__pycache__")
    assert sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*")) == [
        "solution.py", "sub", "sub/data.txt"]
    copy_regular_tree(workspace, "missing", tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("where", ["tasks/t/labels.csv", "tasks/t/sub/labels.csv"])
def test_a_file_link_is_refused_never_read(workspace, secret, tmp_path, where):
    (workspace / where).symlink_to(secret)
    with pytest.raises(UnsafeEntry, match="is a symbolic link"):
        copy_regular_tree(workspace, "tasks/t", tmp_path / "copy")
    assert not any(p.is_file() and p.read_text() == secret.read_text() for p in (tmp_path / "copy").rglob("*"))
    assert unsafe_entries(workspace, "tasks/t") == [where]


def test_a_linked_folder_on_the_way_is_refused(workspace, secret, tmp_path):
    (workspace / "lib").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(UnsafeEntry, match="lib is a symbolic link"):
        copy_regular_tree(workspace, "lib", tmp_path / "copy")
    os.mkfifo(workspace / "tasks/t/pipe")
    with pytest.raises(UnsafeEntry, match="FIFO"):
        copy_regular_tree(workspace, "tasks/t", tmp_path / "copy2")  # a FIFO never blocks the copy


def test_the_mirror_copies_files_keeps_links_as_links_and_leaves_out_the_rest(workspace, secret, tmp_path):
    target = tmp_path / "trusted"
    (workspace / "tasks/t/labels.csv").symlink_to(secret)
    os.mkfifo(workspace / "pipe")
    (workspace / ".git").mkdir()
    mirror = Mirror(workspace, target, skip=lambda name: name == ".git")
    notes = mirror.sync()
    assert (target / "tasks/t/labels.csv").is_symlink() and os.readlink(target / "tasks/t/labels.csv") == str(secret)
    assert (target / "tasks/t/sub/data.txt").read_text() == "data"
    assert not (target / "pipe").exists() and not (target / ".git").exists()
    assert sorted(notes) == [".git: left out (name reserved)", "pipe: left out (FIFO)"]

    # edits, deletions and a link replaced by a file all arrive; nothing outside changes
    (workspace / "tasks/t/labels.csv").unlink()
    (workspace / "tasks/t/labels.csv").write_text("mine")
    (workspace / "tasks/t/sub/data.txt").unlink()
    (workspace / "tasks/t/solution.py").write_text("print(2)\n")
    mirror.sync()
    assert (target / "tasks/t/labels.csv").read_text() == "mine" and not (target / "tasks/t/labels.csv").is_symlink()
    assert not (target / "tasks/t/sub/data.txt").exists()
    assert (target / "tasks/t/solution.py").read_text() == "print(2)\n"
    assert secret.read_text() == "id,target\n1,secret\n"


def test_the_mirror_refuses_more_than_its_cap(workspace, tmp_path):
    with pytest.raises(ValueError, match="more than 4 bytes"):
        Mirror(workspace, tmp_path / "trusted").sync(max_bytes=4)
