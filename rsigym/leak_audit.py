"""The leak audit of :func:`rsigym.contract.check_task`: can a solution get at a task's test labels
without learning anything?

A lookup attacker gets everything a solution gets, plus whatever an agent could compute
outside the sandbox from public code and the numbers the sandbox shows it:

- **Regenerated instances.** For a task whose hidden data is generated (its spec declares no
  leak sources), the audit rebuilds the instance from every seed the sandbox can see (its
  ``RSI_SEED``, every integer in its environment and public JSON files, a few usual seeds)
  with a key of its own, as an agent that knows the builder's code but not the host key can.
- **Tabular tasks** (a ``test.csv``): the attacker solution (:mod:`rsigym._leak_lookup`, run in
  the sandbox) looks each test row up by its features in those rebuilt tables, in every
  ``sklearn.datasets.load_*`` set and in every table-like file it can read, answers matched
  rows with the label found and the rest with a constant. It must not beat the starter's loss
  on the private split.
- **Document tasks** (language modelling, post-training): a search solution looks for
  fragments of the hidden test documents in every file the sandbox can read (the declared
  leak sources first), and the rebuilt instances' test documents are compared with the real
  ones. Nothing may be found beyond chance (two rebuilt instances' overlap): a model can only
  learn test documents it can read or rebuild.
- **Kernel tasks** are not audited: they hold no labels. A kernel is handed its inputs when it
  runs; the harness draws them from fresh entropy after the solution is imported, and the
  grader recomputes the reference from the seeds it recorded, so knowing seeds in advance
  gains nothing.
"""
from __future__ import annotations

import json
import re
import secrets
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from rsigym.sandbox import Sandbox
from rsigym.sandbox.hidden import resolve_leak_source
from rsigym.tasks import INSTANCE_SECRET_FILE, RunContext, Task, TaskResult, using_host_key_file
from rsigym.evaluation import score_solution

ATTACKER = Path(__file__).with_name("_leak_lookup.py")
USUAL_SEEDS = (0, 1, 2, 3, 7, 42, 1234, 2024)
MAX_SEEDS = 32  # rebuilds per audit: the solution's own seed, then the smallest others
NEEDLE_BYTES = 48
NEEDLES = 16
FOUND_FRACTION = 0.25  # of needles found before a search counts as a leak (boilerplate recurs)
OVERLAP_MARGIN = 0.1  # of the real test documents also rebuilt, above the chance level


class LeakAudit(NamedTuple):
    """What the lookup attacker achieved on one instance."""

    method: str
    findings: tuple[str, ...]  # empty: no leak
    starter_private_loss: float | None = None
    attacker_private_loss: float | None = None
    attacker_report: str = ""  # the attacker's last output line (what it matched or found)


def audit_leaks(
    task: Task, seed: int = 0, scale: str = "ci", sandbox: Sandbox | None = None, starter: TaskResult | None = None
) -> LeakAudit:
    """Play the lookup attacker against ``task``'s instance for ``seed`` (see the module docs).
    ``starter``: the starter's result on the same instance, if already known (tabular tasks
    compare with it; it is measured when needed)."""
    if task.spec.category == "kernel":
        return LeakAudit("not applicable: kernels hold no labels; their inputs are drawn after import", ())
    with tempfile.TemporaryDirectory(prefix=f"rsigym-audit-{task.id}-") as tmp:
        root = Path(tmp)
        data, private = root / "data", root / "private"
        task.prepare(seed, scale, data, private)
        rebuilt = _rebuild(task, visible_seeds(task, seed, scale, data, root), scale, root) if not task.spec.leak_sources else []
        if (data / "test.csv").is_file():
            return _tabular(task, starter, seed, scale, sandbox, rebuilt)
        return _documents(task, seed, scale, sandbox, private, rebuilt)


def visible_seeds(task: Task, seed: int, scale: str, data: Path, scratch: Path) -> list[int]:
    """Integers a solution sees: its environment's values, the public JSON files' numbers, usual seeds."""
    ctx = RunContext(task.id, scratch, data, scratch / "private-unused", scratch / "out-unused", seed, scale)
    texts = list(task.solution_env(ctx).values())
    texts += [path.read_text(errors="replace") for path in data.rglob("*.json") if path.stat().st_size < 1_000_000]
    found = {int(n) for text in texts for n in re.findall(r"(?<![\d.])\d{1,10}(?![\d.])", text)}
    others = sorted({*USUAL_SEEDS, *(n for n in found if n < 2**32)} - {seed})
    return [seed, *others[: MAX_SEEDS - 1]]


def _rebuild(task: Task, seeds: list[int], scale: str, root: Path) -> list[Path]:
    """The instances for ``seeds`` under an attacker's own key: one folder (data/, private/) each."""
    key = root / "attacker.key"
    key.write_text(secrets.token_hex(32))
    folders = []
    with using_host_key_file(key):
        for candidate in seeds:
            folder = root / f"rebuilt-{candidate}"
            task.prepare(candidate, scale, folder / "data", folder / "private")
            folders.append(folder)
    return folders


def _tabular(task: Task, starter: TaskResult | None, seed: int, scale: str, sandbox: Sandbox | None, rebuilt: list[Path]) -> LeakAudit:
    starter = starter or score_solution(task, None, seed, scale, sandbox)
    files: dict[str, str | bytes] = {
        task.entry: ATTACKER.read_text(),
        "leak_audit.json": json.dumps({"mode": "tabular"}),
    }
    for folder in rebuilt:
        labels = pd.read_csv(folder / "private" / "labels.csv")[["id", "target"]]
        table = pd.read_csv(folder / "data" / "test.csv").merge(labels, on="id")
        files[f"leak_candidates/{folder.name}.csv"] = table.drop(columns=["id"]).to_csv(index=False)
    result = score_solution(task, files, seed, scale, sandbox)
    report = result.log_tail.strip().splitlines()[-1] if result.log_tail.strip() else ""
    findings = []
    if result.private_loss < starter.private_loss:
        findings.append(f"the lookup attacker's private loss {result.private_loss:.4f} beats the starter's "
                        f"{starter.private_loss:.4f} ({report})")
    return LeakAudit("tabular lookup", tuple(findings), starter.private_loss, result.private_loss, report)


def _documents(task: Task, seed: int, scale: str, sandbox: Sandbox | None, private: Path, rebuilt: list[Path]) -> LeakAudit:
    from rsigym.sandbox import LocalSandbox

    documents = _test_documents(private)
    needles = _needles(documents)
    findings = []
    rebuilt_documents = [_test_documents(folder / "private") for folder in rebuilt]
    # Two rebuilt instances share documents by chance alone (a small problem space, as in
    # addition): only an overlap with the real ones beyond that chance level is a leak.
    chance = _overlap(rebuilt_documents[0], rebuilt_documents[1]) if len(rebuilt) > 1 else 0.0
    for folder, candidate in zip(rebuilt, rebuilt_documents):
        overlap = _overlap(documents, candidate)
        if overlap > chance + OVERLAP_MARGIN:
            findings.append(f"{overlap:.0%} of the test documents rebuilt from visible seed {folder.name} are the "
                            f"real ones (chance: {chance:.0%})")
    report = ""
    if needles:
        with tempfile.TemporaryDirectory(prefix=f"rsigym-audit-run-{task.id}-") as tmp:
            scratch = Path(tmp)
            (scratch / "search.py").write_text(ATTACKER.read_text())
            # The declared leak sources first, where a leak is likeliest, then everything else.
            priority = [str(path) for source in task.spec.leak_sources for path in resolve_leak_source(source)]
            settings = {"mode": "documents", "needles": [n.hex() for n in needles], "priority": priority,
                        "enough": len(needles) // 2 + 1}
            (scratch / "leak_audit.json").write_text(json.dumps(settings))
            data = scratch.parent / f"{scratch.name}-data"
            ctx = RunContext(task.id, scratch, data, private, scratch / "out", seed, scale)
            box = sandbox or LocalSandbox()
            run = box.run([box.python(), "search.py"], scratch, timeout=240, env=task.solution_env(ctx))
        lines = run.stdout.splitlines()
        hits = {line.split()[1] for line in lines if line.startswith("FOUND ")}
        report = f"found {len(hits)}/{len(needles)} test fragments; " + (lines[-1] if lines else run.tail(300))
        if not run.ok or not any(line.startswith("SEARCHED ") for line in lines):
            findings.append(f"the document search did not finish: {run.tail(300)}")
        elif len(hits) > FOUND_FRACTION * len(needles):
            findings.append(f"hidden test documents are readable in the sandbox: {report}; "
                            + "; ".join(line for line in lines if line.startswith("FOUND "))[:500])
    return LeakAudit("document search", tuple(findings), attacker_report=report)


def _test_documents(private: Path) -> list[bytes]:
    """The hidden test documents an instance holds: rows of ``*.npy`` arrays, items of JSON
    lists, ``*.bin`` streams cut into fixed chunks."""
    documents: list[bytes] = []
    for path in sorted(private.iterdir()):
        if path.name == INSTANCE_SECRET_FILE or not path.is_file():
            continue
        if path.suffix == ".npy":
            array = np.load(path)
            documents += [row.tobytes() for row in array.reshape(len(array), -1)] if array.ndim >= 1 and len(array) else []
        elif path.suffix == ".bin":
            text = path.read_bytes()
            documents += [text[i : i + NEEDLE_BYTES] for i in range(0, len(text) - NEEDLE_BYTES, NEEDLE_BYTES)]
        elif path.suffix == ".json":
            items = json.loads(path.read_text())
            if isinstance(items, list):
                documents += [json.dumps(item).encode() for item in items]
    return documents


def _needles(documents: list[bytes]) -> list[bytes]:
    """Distinctive fragments to search for: long byte strings with many distinct bytes
    (no JSON items: short numbers occur everywhere)."""
    candidates = [doc[:NEEDLE_BYTES] for doc in documents if len(doc) >= 32 and len(set(doc[:NEEDLE_BYTES])) >= 8
                  and not doc.startswith(b"[")]
    if not candidates:
        return []
    step = max(1, len(candidates) // NEEDLES)
    return candidates[::step][:NEEDLES]


def _overlap(real: list[bytes], rebuilt: list[bytes]) -> float:
    if not real:
        return 0.0
    rebuilt_set = set(rebuilt)
    return sum(doc in rebuilt_set for doc in real) / len(real)
