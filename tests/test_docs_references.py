"""Every repository path the docs cite in backticks, and every relative link, exists, so that
docs/ and README.md never point at a file that moved or never was."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
# A citation is checked when it starts at a top-level folder of the repository (``tasks/...``
# inside a workspace is not a repository path) and names a file with an extension or a folder.
TOP_LEVEL = {path.name for path in ROOT.iterdir() if path.is_dir() and not path.name.startswith(".")} - {"runs"}
EXTENSION = re.compile(r"\.(py|md|json|jsonl|csv|toml|txt|cfg|yaml|yml|sh|png|svg|cu|html|lock|in)$")
PLACEHOLDER = re.compile(r"[<>*{}\s$…]|\.\.\.")
# Paths of issue #13's new layout, which other branches add; empty this once they are merged.


def cited_paths(text: str) -> list[str]:
    """Repository paths in backticks: ``rsigym/env.py``, ``tests/test_env.py::test_x``, ``envs/toy/``."""
    found = []
    for span in re.findall(r"`([^`\n]+)`", text):
        path = span.split("::")[0].rstrip(".,:;")
        path = re.sub(r":\d+(-\d+)?$", "", path)  # file.py:12 or file.py:12-30
        if "/" not in path or PLACEHOLDER.search(path) or path.split("/")[0] not in TOP_LEVEL:
            continue
        if EXTENSION.search(path) or path.endswith("/") or (ROOT / path).is_dir():
            found.append(path)
    return found


def test_the_docs_cite_paths():
    assert len({path for doc in DOCS for path in cited_paths(doc.read_text())}) > 30


@pytest.mark.parametrize("doc", DOCS, ids=[str(doc.relative_to(ROOT)) for doc in DOCS])
def test_every_path_a_doc_cites_exists(doc):
    missing = [path for path in cited_paths(doc.read_text()) if not (ROOT / path).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=[str(doc.relative_to(ROOT)) for doc in DOCS])
def test_every_relative_link_resolves(doc):
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", doc.read_text())
               if not t.startswith(("http://", "https://", "#", "mailto:"))]
    missing = [t for t in targets if not (doc.parent / t).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_placeholders_and_workspace_paths_are_not_checked():
    text = "`<run>/log.jsonl` `tasks/digits/solution.py` `rsigym/env.py:120` `tests/test_env.py::test_reset` `envs/*/task.json`"
    assert cited_paths(text) == ["rsigym/env.py", "tests/test_env.py"]
