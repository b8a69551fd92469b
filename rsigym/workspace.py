"""The agent system under improvement: a folder the policy edits, versioned by git.

The git directory lives *outside* the workspace (``<run>/history.git``), so nothing the policy
writes or runs can rewrite the history that ``revert`` and the run log rely on.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

# Names git gives a meaning to (any case: git refuses ".GIT" too). A ".gitattributes" could
# make commits or exports differ from the files that were evaluated (export-ignore, eol).
VERSION_CONTROL_NAMES = frozenset({".git", ".gitmodules", ".gitattributes"})
LAYOUT = ("harness", "tasks", "lib", "weights")
DESCRIPTION = "description.md"  # each task's brief, in tasks/<id>/
DEFAULT_HARNESS = {
    "memory.md": "# Memory\n\nNotes the agent keeps across iterations. The head of this file is shown in every observation.\n",
    "prompt.md": "# Prompt\n\nYou improve an ML agent system: edit tasks/<id>/ solutions, lib/, weights/ and this harness.\n",
}


class PathRefused(ValueError):
    """A path that is absolute, leaves the workspace, goes through a symlink or touches version control."""


def edit_kind(path: str) -> str:
    """The kind of an edit from its workspace path: harness/, weights/, or code for anything else."""
    top = PurePosixPath(path).parts[0] if PurePosixPath(path).parts else ""
    return {"harness": "harness", "weights": "weight"}.get(top, "code")


class Workspace:
    """A workspace folder plus its git history; every public path argument is workspace-relative."""

    def __init__(self, root: Path, history: Path):
        self.root = Path(root)
        self.history = Path(history)

    @classmethod
    def create(
        cls,
        root: Path,
        history: Path,
        task_dirs: Mapping[str, Path],
        lib_dirs: Iterable[Path] = (),
        files: Mapping[str, bytes | str] | None = None,
        descriptions: Mapping[str, str] | None = None,
    ) -> "Workspace":
        """Lay out a fresh workspace: starter files per task, shared libs, default harness, extra files.

        ``descriptions`` (task id -> text) become ``tasks/<id>/description.md``: a copy the policy
        can re-read. Graders never read it; editing it only changes that task's grade-cache key.
        """
        for path in (root, history):
            if path.exists():
                shutil.rmtree(path)
        for folder in LAYOUT:
            (root / folder).mkdir(parents=True)
        for name, text in DEFAULT_HARNESS.items():
            (root / "harness" / name).write_text(text)
        for task_id, starter in task_dirs.items():
            shutil.copytree(starter, root / "tasks" / task_id, ignore=shutil.ignore_patterns("__pycache__"))
        for task_id, text in (descriptions or {}).items():
            (root / "tasks" / task_id / DESCRIPTION).write_text(text)
        for lib in lib_dirs:
            shutil.copytree(lib, root / "lib", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "weights" / ".keep").write_text("")
        workspace = cls(root, history)
        for rel, content in (files or {}).items():
            workspace.write(rel, content)
        workspace._git("init", "--quiet")
        return workspace

    # -- paths -----------------------------------------------------------------------------
    def resolve(self, rel: str) -> Path:
        """The absolute path of ``rel`` inside the workspace, or :class:`PathRefused`."""
        if not isinstance(rel, str) or not rel.strip():
            raise PathRefused("path must be a non-empty string relative to the workspace")
        if "\x00" in rel:
            raise PathRefused("path contains a NUL byte")
        pure = PurePosixPath(rel)
        if pure.is_absolute():
            raise PathRefused(f"{rel!r} is absolute; use a path relative to the workspace, e.g. 'tasks/<id>/solution.py'")
        if ".." in pure.parts:
            raise PathRefused(f"{rel!r} leaves the workspace ('..' is not allowed)")
        if any(part.lower() in VERSION_CONTROL_NAMES for part in pure.parts):
            raise PathRefused(f"{rel!r} touches version control, which the environment owns")
        current = self.root
        for part in pure.parts:
            current = current / part
            if current.is_symlink():
                raise PathRefused(f"{rel!r} goes through a symlink, which is not allowed")
        resolved = current.resolve()
        if resolved != self.root.resolve() and self.root.resolve() not in resolved.parents:
            raise PathRefused(f"{rel!r} resolves outside the workspace")
        return current

    # -- file operations -------------------------------------------------------------------
    def read(self, rel: str, max_chars: int = 20_000) -> str:
        path = self.resolve(rel)
        if path.is_dir():
            entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
            return "\n".join(entries)
        if not path.is_file():
            raise FileNotFoundError(f"{rel!r} does not exist")
        with path.open("rb") as handle:
            data = handle.read(max_chars + 1)
        text = data[:max_chars].decode("utf-8", errors="replace")
        return text + ("\n[... truncated ...]" if len(data) > max_chars else "")

    def write(self, rel: str, content: bytes | str) -> Path:
        path = self.resolve(rel)
        if path.is_dir():
            raise IsADirectoryError(f"{rel!r} is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".rsigym-tmp")
        tmp.write_bytes(content.encode() if isinstance(content, str) else content)
        os.replace(tmp, path)
        return path

    def memory_head(self, lines: int = 15, chars: int = 1500) -> str:
        """The first lines of ``harness/memory.md`` (shown in every observation)."""
        try:
            text = self.read("harness/memory.md", max_chars=chars)
        except (OSError, PathRefused):
            return "(harness/memory.md is missing)"
        return "\n".join(text.splitlines()[:lines])

    def files(self) -> list[str]:
        """Every regular file, workspace-relative, sorted."""
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file() and not p.is_symlink())

    # -- history ---------------------------------------------------------------------------
    def _git(self, *args: str) -> str:
        env = {
            "GIT_DIR": str(self.history),
            "GIT_WORK_TREE": str(self.root),
            "GIT_AUTHOR_NAME": "rsigym",
            "GIT_AUTHOR_EMAIL": "rsigym@localhost",
            "GIT_COMMITTER_NAME": "rsigym",
            "GIT_COMMITTER_EMAIL": "rsigym@localhost",
            # fixed dates keep commit ids reproducible for the same seed and actions
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.history),
        }
        # protectNTFS off: this tree is never checked out on Windows, and its checks would make
        # git refuse names like "git~1" or ".git." that the workspace allows.
        done = subprocess.run(["git", "-c", "core.symlinks=false", "-c", "core.protectNTFS=false", *args],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        """Commit the whole workspace (even when unchanged) and return the commit id."""
        self._git("add", "--all", "--force")
        self._git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message)
        return self._git("rev-parse", "HEAD")

    def recover(self) -> None:
        """Remove the lock files a process killed in the middle of a git command leaves behind
        (``index.lock``, ``HEAD.lock``, ref locks); git refuses to work while they exist. Only
        one env works on a run directory, so no live git process can hold them."""
        for lock in self.history.rglob("*.lock"):
            lock.unlink(missing_ok=True)

    def restore(self, commit: str) -> None:
        """Make the workspace exactly the tree of ``commit`` (files added since are removed)."""
        self._git("add", "--all", "--force")
        self._git("read-tree", "--reset", "-u", commit)
        self._prune_empty_dirs()

    def differs_from(self, commit: str) -> bool:
        """True when the workspace's files are not exactly the tree of ``commit``."""
        self._git("add", "--all", "--force")
        return bool(self._git("diff", "--cached", "--name-only", commit))

    def export(self, commit: str, destination: Path) -> None:
        """Write the tree of ``commit`` into ``destination`` (which must exist)."""
        env = {"GIT_DIR": str(self.history), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        archive = subprocess.run(["git", "archive", "--format=tar", commit], env=env, capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(destination, filter=_links_as_committed)

    def _prune_empty_dirs(self) -> None:
        keep = {self.root / folder for folder in LAYOUT}
        for path in sorted(self.root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink() and path not in keep and not any(path.iterdir()):
                path.rmdir()


def _links_as_committed(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo:
    """The ``data`` filter, except that a committed symlink is recreated as the same link,
    wherever it points: the evaluation refuses links without following them, so scoring the
    export gives the error the live workspace gave (the ``data`` filter raised instead, and
    every later resume of the run with it). A git tree cannot hold a path below a link."""
    return member if member.issym() else tarfile.data_filter(member, destination)
