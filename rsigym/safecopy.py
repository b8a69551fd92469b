"""Copying folders the agent controls, as trusted code, without ever following a link.

The evaluator (root, or the trainer's user) copies the agent's files into places only it
controls. A link planted in those files — to ``<run>/private/<task>/labels.csv``, say — must
never make it read what the link points to, even if the link appears between a check and a
read. So every folder is opened relative to its already opened parent with ``O_NOFOLLOW``,
and every file is opened the same way and checked to be regular on the open descriptor:
there is no moment at which a path is looked up twice.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs us


class UnsafeEntry(ValueError):
    """A symlink (or FIFO, socket, device) where only regular files and folders are accepted."""

    def __init__(self, rel: str, kind: str):
        super().__init__(f"{rel} is a {kind}; links and special files are refused in the workspace "
                         "(replace it with a regular file)")
        self.rel = rel
        self.kind = kind


def entry_kind(mode: int) -> str:
    """What an ``lstat`` mode is, in words."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "regular file"
    return "device node"


def open_folder(root: Path, rel: str | PurePosixPath = ".") -> int:
    """A descriptor of folder ``rel`` under ``root``, opened one component at a time without
    following links; ``UnsafeEntry`` if a component is not a real folder, ``FileNotFoundError``
    if it is missing. ``root`` itself is trusted (the caller made it)."""
    descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    walked = PurePosixPath()
    try:
        for part in PurePosixPath(rel).parts:
            walked /= part
            child = _open_child_folder(descriptor, part, str(walked))
            os.close(descriptor)
            descriptor = child
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _open_child_folder(parent: int, name: str, rel: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise UnsafeEntry(rel, entry_kind(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)) from None


def _open_child_file(parent: int, name: str, rel: str) -> tuple[int, os.stat_result]:
    try:
        descriptor = os.open(name, _FILE_FLAGS, dir_fd=parent)
    except OSError:
        raise UnsafeEntry(rel, entry_kind(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)) from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise UnsafeEntry(rel, entry_kind(info.st_mode))
    return descriptor, info


def _entries(folder: int) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(folder) as scan:
        names = sorted(entry.name for entry in scan)
    for name in names:
        try:
            yield name, os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:  # removed while we looked
            continue


def _copy_descriptor(source: int, target: Path, mode: int) -> int:
    """Copy the open file ``source`` into a new file ``target`` (replacing it); bytes copied."""
    temporary = target.with_name(target.name + ".rsigym-copy")
    temporary.unlink(missing_ok=True)
    written = 0
    out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, stat.S_IMODE(mode) & 0o755)
    try:
        while chunk := os.read(source, 1 << 20):
            os.write(out, chunk)  # a regular file takes the whole chunk
            written += len(chunk)
    finally:
        os.close(out)
    os.replace(temporary, target)
    return written


def copy_regular_tree(root: Path, rel: str, target: Path, skip: Callable[[str], bool] = lambda name: False) -> None:
    """Copy folder ``rel`` of ``root`` to ``target`` (created): regular files and folders only.
    Names for which ``skip`` is true are left out; any other entry raises :class:`UnsafeEntry`
    before the caller can use the copy. A missing ``rel`` gives an empty ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        folder = open_folder(root, rel)
    except FileNotFoundError:
        return
    try:
        _copy_folder(folder, PurePosixPath(rel), target, skip)
    finally:
        os.close(folder)


def _copy_folder(folder: int, rel: PurePosixPath, target: Path, skip: Callable[[str], bool]) -> None:
    for name, info in _entries(folder):
        if skip(name):
            continue
        if stat.S_ISDIR(info.st_mode):
            child = _open_child_folder(folder, name, str(rel / name))
            try:
                (target / name).mkdir(exist_ok=True)
                _copy_folder(child, rel / name, target / name, skip)
            finally:
                os.close(child)
            continue
        descriptor, opened = _open_child_file(folder, name, str(rel / name))
        try:
            _copy_descriptor(descriptor, target / name, opened.st_mode)
        finally:
            os.close(descriptor)


def unsafe_entries(root: Path, rel: str) -> list[str]:
    """``rel``-relative paths of every entry under folder ``rel`` of ``root`` that is neither a
    regular file nor a folder (links, FIFOs, sockets, devices); none are followed."""
    found: list[str] = []
    try:
        folder = open_folder(root, rel)
    except FileNotFoundError:
        return found
    except UnsafeEntry as err:
        return [err.rel]
    try:
        _collect_unsafe(folder, PurePosixPath(rel), found)
    finally:
        os.close(folder)
    return found


def _collect_unsafe(folder: int, rel: PurePosixPath, found: list[str]) -> None:
    for name, info in _entries(folder):
        if stat.S_ISDIR(info.st_mode):
            try:
                child = _open_child_folder(folder, name, str(rel / name))
            except (UnsafeEntry, FileNotFoundError):  # swapped while we looked
                found.append(str(rel / name))
                continue
            try:
                _collect_unsafe(child, rel / name, found)
            finally:
                os.close(child)
        elif not stat.S_ISREG(info.st_mode):
            found.append(str(rel / name))


class Mirror:
    """Keeps ``target`` (trusted, made by the caller) an exact copy of ``source`` (a folder the
    agent writes): regular files are copied, links are recreated as links (their target text,
    never what they point to) so that the evaluation can refuse them, and other special files
    and names for which ``skip`` is true are left out and reported. Files whose inode, size,
    modification and change times are those of the last sync are not copied again (the change
    time cannot be set by the agent)."""

    def __init__(self, source: Path, target: Path, skip: Callable[[str], bool] = lambda name: False):
        self.source, self.target, self.skip = Path(source), Path(target), skip
        self._seen: dict[str, tuple[int, int, int, int]] = {}

    def sync(self, max_bytes: int | None = None) -> list[str]:
        """Make ``target`` equal ``source``; returns notes on what was left out. Raises
        ``ValueError`` when the regular files hold more than ``max_bytes`` (``target`` is then
        partly updated; a later sync finishes it)."""
        notes: list[str] = []
        total = [0]
        self.target.mkdir(parents=True, exist_ok=True)
        folder = open_folder(self.source)
        try:
            self._sync_folder(folder, PurePosixPath(), self.target, notes, total, max_bytes)
        finally:
            os.close(folder)
        return notes

    def _sync_folder(self, folder: int, rel: PurePosixPath, target: Path, notes: list[str], total: list[int],
                     max_bytes: int | None) -> None:
        present: set[str] = set()
        for name, info in _entries(folder):
            path = str(rel / name)
            if self.skip(name):
                notes.append(f"{path}: left out (name reserved)")
                continue
            there = target / name
            if stat.S_ISDIR(info.st_mode):
                try:
                    child = _open_child_folder(folder, name, path)
                except (UnsafeEntry, FileNotFoundError):
                    continue
                try:
                    if there.is_symlink() or (there.exists() and not there.is_dir()):
                        _remove(there)
                    there.mkdir(exist_ok=True)
                    self._sync_folder(child, rel / name, there, notes, total, max_bytes)
                finally:
                    os.close(child)
            elif stat.S_ISREG(info.st_mode):
                total[0] += info.st_size
                if max_bytes is not None and total[0] > max_bytes:
                    raise ValueError(f"the workspace holds more than {max_bytes} bytes; remove files and try again")
                stamp = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                if self._seen.get(path) != stamp or not (there.is_file() and not there.is_symlink()):
                    try:
                        descriptor, _ = _open_child_file(folder, name, path)
                    except UnsafeEntry:
                        continue  # swapped for something else while we looked: the next sync sees it
                    try:
                        if there.is_dir() and not there.is_symlink():
                            _remove(there)
                        _copy_descriptor(descriptor, there, info.st_mode)
                    finally:
                        os.close(descriptor)
                    self._seen[path] = stamp
            elif stat.S_ISLNK(info.st_mode):
                link = os.readlink(name, dir_fd=folder)
                if not (there.is_symlink() and os.readlink(there) == link):
                    if there.exists() or there.is_symlink():
                        _remove(there)
                    os.symlink(link, there)
            else:
                notes.append(f"{path}: left out ({entry_kind(info.st_mode)})")
                continue
            present.add(name)
        for stale in sorted(set(os.listdir(target)) - present):
            _remove(target / stale)
            self._seen.pop(str(rel / stale), None)


def _remove(path: Path) -> None:
    """Delete ``path`` in the trusted copy: a link itself, never what it points to."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
