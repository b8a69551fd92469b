"""Roles of the AI factory and the regions of the workspace they may write.

A role owns the task folders of its categories (``tasks/<id>/``) plus any fixed folders
(the harness keeper's ``harness/`` and ``lib/``); folders in ``shared`` (``weights/`` by
default) are writable by every role. Reading is never restricted: every role sees the whole
workspace. The mapping is data, so a new suite's tasks get an owner as soon as their category
has one.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from rsigym.actions import Op
from rsigym.operations import written_paths
from rsigym.tasks import Task

SHARED_FOLDERS: tuple[str, ...] = ("weights",)


@dataclass(frozen=True)
class Role:
    """One agent of the factory.

    ``categories``: task categories whose ``tasks/<id>/`` folders it owns. ``folders``: other
    workspace folders it owns. ``whole_suite``: its own loss is the suite loss (the harness
    keeper's ``lib/`` and ``harness/`` serve every task), rather than the loss of its tasks.
    """

    name: str
    categories: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    whole_suite: bool = False


# The order is the order in which simultaneous actions are applied (a later write wins):
# checkpoints first, then the code that uses them, then the shared library and harness.
ROLES: tuple[Role, ...] = (
    Role("pretrainer", categories=("pretrain",)),
    Role("posttrainer", categories=("posttrain",)),
    Role("kernel_engineer", categories=("kernel",)),
    Role("mle_engineer", categories=("mle",)),
    Role("harness_keeper", folders=("harness", "lib"), whole_suite=True),
)


def _parts(path: str) -> tuple[str, ...]:
    return PurePosixPath(path).parts if isinstance(path, str) else ()


def is_under(path: str, prefix: str) -> bool:
    """Whether workspace path ``path`` is ``prefix`` or lies inside folder ``prefix``."""
    parts, head = _parts(path), _parts(prefix)
    return bool(head) and parts[: len(head)] == head


def overlaps(a: str, b: str) -> bool:
    """Whether two workspace paths name the same file or one lies inside the other."""
    return is_under(a, b) or is_under(b, a)


@dataclass(frozen=True)
class Region:
    """Where one role may write: folders it owns alone, and folders every role shares."""

    role: str
    tasks: tuple[str, ...]  # ids of the tasks whose folders it owns
    own: tuple[str, ...]  # workspace folders it owns (task folders included)
    shared: tuple[str, ...]
    scored_on: tuple[str, ...]  # ids of the tasks whose loss is this role's own loss

    @property
    def writable(self) -> tuple[str, ...]:
        return self.own + self.shared

    def allows(self, path: str) -> bool:
        return ".." not in _parts(path) and any(is_under(path, prefix) for prefix in self.writable)

    def describe(self) -> str:
        return ", ".join(f"{prefix}/" for prefix in self.writable) or "nothing"


def build_regions(tasks: Sequence[Task], roles: Sequence[Role] = ROLES,
                  shared: Sequence[str] = SHARED_FOLDERS) -> dict[str, Region]:
    """The regions of the roles that have something to do with these tasks, in role order.

    A role with neither a task of its categories nor a folder of its own is dropped. Every
    task must have exactly one owning role, so that every loss has someone answerable for it.
    """
    names = [role.name for role in roles]
    if len(names) != len(set(names)):
        raise ValueError(f"role names must be unique, got {names}")
    owners: dict[str, list[str]] = {task.id: [] for task in tasks}
    regions: dict[str, Region] = {}
    for role in roles:
        mine = tuple(task.id for task in tasks if task.spec.category in role.categories)
        for task_id in mine:
            owners[task_id].append(role.name)
        own = tuple(f"tasks/{task_id}" for task_id in mine) + tuple(role.folders)
        if not own:
            continue
        scored_on = tuple(task.id for task in tasks) if role.whole_suite else mine
        regions[role.name] = Region(role.name, mine, own, tuple(shared), scored_on)
    unowned = {task_id: found for task_id, found in owners.items() if len(found) != 1}
    if unowned:
        raise ValueError("each task needs exactly one owning role; owners found: "
                         + ", ".join(f"{task_id}: {found or 'none'}" for task_id, found in unowned.items()))
    return regions


def owner_of(path: str, regions: Mapping[str, Region]) -> str | None:
    """The role that owns ``path`` alone, if any (shared folders have none)."""
    return next((name for name, region in regions.items() if any(is_under(path, p) for p in region.own)), None)


def refusal(op: Op, region: Region, regions: Mapping[str, Region]) -> str:
    """Why ``op`` may not run for this role, or ``""`` when every path it writes is in its region."""
    guard = RoleGuard(region, regions)
    return next((why for path in written_paths(op) if (why := guard.refusal(path))), "")


@dataclass(frozen=True)
class RoleGuard:
    """A role's :class:`~rsigym.operations.WriteGuard`: writes stay in its region, and ``revert``
    restores the folders it owns (not the shared ones)."""

    region: Region
    regions: Mapping[str, Region]

    def refusal(self, path: str) -> str:
        """Why the role may not write ``path`` (naming the owner), or ``""``."""
        if self.region.allows(path):
            return ""
        owner = owner_of(path, self.regions)
        whose = f"; it belongs to {owner}" if owner else "; no role owns it"
        return (f"{self.region.role} may not write {path!r}: its region is {self.region.describe()}{whose}. "
                "Every role may read the whole workspace.")

    def reverts(self) -> tuple[str, ...]:
        return self.region.own


def find_conflicts(touched: Mapping[str, Iterable[str]]) -> list[dict]:
    """Overlapping paths written by different roles in one step: ``[{path, agents}]``, in role order."""
    conflicts: dict[str, list[str]] = {}
    agents = list(touched)
    for i, first in enumerate(agents):
        for second in agents[i + 1:]:
            for a in touched[first]:
                for b in touched[second]:
                    if overlaps(a, b):
                        path = a if len(_parts(a)) >= len(_parts(b)) else b
                        names = conflicts.setdefault(path, [])
                        names += [n for n in (first, second) if n not in names]
    return [{"path": path, "agents": sorted(names, key=agents.index)} for path, names in conflicts.items()]
