"""The import graph of rsigym's own modules has no cycles and no upward imports.

Every module under rsigym/, envs/, wrappers/, baselines/ and integrations/ is parsed (nothing is
imported); every ``import``/``from`` statement counts, at module level, in functions and under
``if TYPE_CHECKING:`` alike. The layers, lowest first:

- the core: ``rsigym`` and its subpackages (env, ops, workspace, evaluation, tasks, sandbox, run
  log, registry, backends, analysis, the CLI) — it imports no suite, wrapper, baseline or
  integration; it reaches them only through entry-point strings in its registries;
- ``rsigym.envs`` (the suites): may import the core, never wrappers, baselines or integrations;
- ``rsigym.wrappers``, ``rsigym.baselines``, ``rsigym.integrations``: may import what is below.

The analysis (``rsigym.analysis``) reads run logs only, so it imports nothing from the suites.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"rsigym": ROOT / "rsigym", "rsigym.envs": ROOT / "envs", "rsigym.wrappers": ROOT / "wrappers",
                "rsigym.baselines": ROOT / "baselines", "rsigym.integrations": ROOT / "integrations"}
UPPER = ("rsigym.wrappers", "rsigym.baselines", "rsigym.integrations")
SUITES = "rsigym.envs"
ANALYSIS = "rsigym.analysis"

# A string naming an upper-layer module or entry point ("rsigym.envs.toy:load_tasks"): an import by name.
UPPER_MODULE_STRING = re.compile(r"rsigym\.(envs|wrappers|baselines|integrations)(\.\w+)*(:[\w.]+)?")
# Where the core may name upper layers by string: the registries of entry points.
ENTRY_POINT_CALLS = frozenset({"register_suite", "register"})  # rsigym.registry's suites, Gymnasium's env ids
ENTRY_POINT_TABLES = frozenset({"AGENTS", "SUBCOMMANDS"})  # rsigym.agents' built-in agents, the CLI's subcommands

Graph = dict[str, set[str]]


def package_of(module: str) -> str:
    return next((prefix for prefix in sorted(PACKAGE_DIRS, key=len, reverse=True)
                 if module == prefix or module.startswith(prefix + ".")), "")


def in_layer(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def is_core(module: str) -> bool:
    return in_layer(module, "rsigym") and not any(in_layer(module, upper) for upper in (SUITES, *UPPER))


def discover_modules() -> dict[str, Path]:
    """Module name -> file, for every .py file inside a package (starter and lib folders of tasks
    are workspace files, not modules of rsigym: they have no ``__init__.py``)."""
    modules = {}
    for name, folder in PACKAGE_DIRS.items():
        if not (folder / "__init__.py").is_file():
            continue
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder)
            if not all((folder / Path(*relative.parts[:i]) / "__init__.py").is_file() for i in range(len(relative.parts))):
                continue
            parts = relative.with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((name, *parts))] = path
    return modules


def imported_names(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The rsigym modules that import statements anywhere in ``tree`` name: ``import X.Y`` names
    ``X.Y``; ``from X import Y`` names the submodule ``X.Y`` when there is one, else ``X``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(resolve(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                names.add(submodule if submodule in modules else resolve(source, modules))
    return names - {None}


def resolve(name: str, modules: set[str]) -> str | None:
    """The module an imported name refers to: the longest known module that is ``name`` or a prefix of it."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def build_graph() -> tuple[Graph, dict[str, ast.AST]]:
    """rsigym-internal imports: module -> the modules it imports; and every module's syntax tree."""
    files = discover_modules()
    trees = {module: ast.parse(path.read_text(), str(path)) for module, path in files.items()}
    graph: Graph = {}
    for module, tree in trees.items():
        graph[module] = imported_names(tree, module, files[module].name == "__init__.py", set(files)) - {module}
    return graph, trees


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_imports(graph: Graph) -> list[str]:
    """Imports that go against the layers, as ``"importer -> imported (rule)"``."""
    broken = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if is_core(module) and not is_core(target):
                broken.append(f"{module} -> {target} (the core imports no suite, wrapper, baseline or integration)")
            elif in_layer(module, SUITES) and any(in_layer(target, upper) for upper in UPPER):
                broken.append(f"{module} -> {target} (a suite imports no wrapper, baseline or integration)")
            if in_layer(module, ANALYSIS) and in_layer(target, SUITES):
                broken.append(f"{module} -> {target} (the analysis reads logs only)")
    return broken


def string_imports(module: str, tree: ast.AST) -> list[str]:
    """Upper-layer module names written as strings in a core module outside the entry-point registries."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        function = node.func if isinstance(node, ast.Call) else None
        name = getattr(function, "id", None) or getattr(function, "attr", None)
        if name in ENTRY_POINT_CALLS:
            allowed.update(id(child) for child in ast.walk(node))
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(target, "id", None) in ENTRY_POINT_TABLES for target in targets):
                allowed.update(id(child) for child in ast.walk(node))
    return [f"{module}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and UPPER_MODULE_STRING.fullmatch(node.value) and id(node) not in allowed]


GRAPH, TREES = build_graph()


def test_the_graph_covers_every_layer():
    assert {"rsigym.env", "rsigym.cli", "rsigym.registry", "rsigym.backends.ray", "rsigym.envs.toy",
            "rsigym.wrappers.action_menu", "rsigym.baselines.greedy"} <= set(GRAPH)
    assert "rsigym.registry" in GRAPH["rsigym.env"]  # edges are found (the env loads its suite by name)
    assert "rsigym.envs.lm.grading" in GRAPH["rsigym.envs.posttrain.addition.task"]


# No cycle is tolerated: the task contract's score_solution lives next to run_task
# (rsigym/evaluation.py) and check_task above the leak audit (rsigym/contract.py).
KNOWN_CYCLES: list[list[str]] = []


def test_no_import_cycles():
    assert cycles(GRAPH) == KNOWN_CYCLES, "a new import cycle, or a known one gone (remove it from KNOWN_CYCLES)"


def test_no_upward_imports():
    assert upward_imports(GRAPH) == []


def test_the_core_names_upper_layers_only_in_its_entry_point_registries():
    found = [hit for module, tree in TREES.items() if is_core(module) for hit in string_imports(module, tree)]
    assert found == []


# The checks themselves can fail: a small made-up graph with a cycle and upward imports.
def test_the_checker_finds_a_cycle_and_upward_imports():
    graph = {
        "rsigym.cli": {"rsigym.env"},
        "rsigym.env": {"rsigym.backends.ray", "rsigym.envs.toy"},
        "rsigym.backends.ray": {"rsigym.cli"},
        "rsigym.analysis.leaderboard": {"rsigym.envs.factory.attribution"},
        "rsigym.envs.toy": {"rsigym.wrappers.action_menu"},
        "rsigym.wrappers.action_menu": {"rsigym.tasks"},
    }
    assert cycles(graph) == [["rsigym.backends.ray", "rsigym.cli", "rsigym.env"]]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []
    assert upward_imports(graph) == [
        "rsigym.analysis.leaderboard -> rsigym.envs.factory.attribution "
        "(the core imports no suite, wrapper, baseline or integration)",
        "rsigym.analysis.leaderboard -> rsigym.envs.factory.attribution (the analysis reads logs only)",
        "rsigym.env -> rsigym.envs.toy (the core imports no suite, wrapper, baseline or integration)",
        "rsigym.envs.toy -> rsigym.wrappers.action_menu (a suite imports no wrapper, baseline or integration)",
    ]


def test_the_checker_finds_function_level_relative_and_string_imports():
    source = '''
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rsigym.env import RSIEnv

SUBCOMMANDS = ("rsigym.integrations.serve:register",)

def late():
    from .registry import load_suite
    return importlib.import_module("rsigym.envs.toy")
'''
    tree = ast.parse(source)
    modules = {"rsigym", "rsigym.cli", "rsigym.env", "rsigym.registry", "rsigym.sandbox", "rsigym.sandbox.gpu"}
    assert imported_names(tree, "rsigym.cli", False, modules) == {"rsigym.env", "rsigym.registry"}
    assert imported_names(ast.parse("from rsigym.sandbox import gpu, Sandbox"), "rsigym.cli", False, modules) == {
        "rsigym.sandbox.gpu", "rsigym.sandbox"}
    assert string_imports("rsigym.cli", tree) == ["rsigym.cli:12: 'rsigym.envs.toy'"]


@pytest.mark.parametrize("module, core", [("rsigym.env", True), ("rsigym.analysis.curves", True),
                                          ("rsigym.envs.toy", False), ("rsigym.integrations.serve", False)])
def test_layers_are_told_apart(module, core):
    assert is_core(module) is core
