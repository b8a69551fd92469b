"""Attacks made of actions: ops aimed at the run directory (log, settings, history, private
data) by path traversal, symlinks or relative paths in a ``run``; budgets set from inside the
workspace; fake reverts and reward farming; filling the disk with edits; faked timers."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from rsigym import operations
from rsigym.env import load_run
from tests.redteam.arena import Arena, expect_gap

# Names git gives a meaning to: refused, since git would refuse them (any case) or let them
# change what a commit or an export holds (.gitattributes: export-ignore, eol conversion).
GIT_NAMES = ["harness/.GIT/config", "lib/.Git", ".gitattributes", "tasks/digits/.gitattributes", "harness/.GITMODULES"]
# Names only git's Windows (NTFS) checks object to: plain files here, versioned like any other.
ODD_NAMES = ["harness/git~1/x", "harness/.git./x", "harness/.git /x", "harness/.git::$INDEX_ALLOCATION"]
RUN_FILES = ["../log.jsonl", "../env.json", "../history.git/HEAD", "../private/digits/labels.csv", "tasks/../../log.jsonl",
             "harness/../../env.json", "lib/./../../history.git/config", ".git/HEAD", "lib/.git/config", "weights/.gitmodules"]


def test_ops_cannot_reach_the_run_directory(arena):
    run = arena.unwrapped.run_dir
    paths = RUN_FILES + [str(run / "log.jsonl"), str(run / "private/digits/labels.csv")]
    history_head = (run / "history.git/HEAD").read_text()
    ops = {
        "write": lambda path: {"op": "write", "path": path, "content": '{"reward": 100}\n'},
        "patch": lambda path: {"op": "patch", "path": path, "diff": "@@ -1 +1 @@\n-x\n+y\n"},
        "read": lambda path: {"op": "read", "path": path},
        "merge": lambda path: {"op": "merge", "inputs": [path], "out": path},
    }
    for name, make in ops.items():
        for batch in (paths[:8], paths[8:]):
            outcome = arena.step([make(path) for path in batch])
            assert [entry["ok"] for entry in outcome.info["ops"]] == [False] * len(batch), name
            assert outcome.obs["text"].count("ERROR") >= len(batch) and outcome.reward == 0.0
            assert "id,target,split" not in outcome.obs["text"]
    assert (run / "history.git/HEAD").read_text() == history_head
    arena.assert_env_holds()


def test_run_ops_work_on_a_copy_and_cannot_touch_the_run_directory(arena):
    """Relative paths from a ``run`` lead into its throw-away copy's parent, never the run dir."""
    run = arena.unwrapped.run_dir
    cmd = ("echo '{\"reward\": 100}' >> ../log.jsonl; echo '{}' > ../env.json; mkdir -p ../history.git/refs; "
           "echo forged > ../history.git/HEAD; rm -rf ../private ../data; echo done-tampering")
    outcome = arena.step({"op": "run", "cmd": cmd, "keep": ["harness"]})
    assert "done-tampering" in outcome.obs["text"] and outcome.info["ops"][0]["ok"]
    assert (run / "history.git/HEAD").read_text().startswith("ref: ")
    refused = arena.step({"op": "run", "cmd": "true", "keep": ["../private", "../log.jsonl", "/etc"]})
    assert not refused.info["ops"][0]["ok"] and "leaves the workspace" in refused.info["ops"][0]["error"]
    arena.assert_env_holds()  # protected files and the log (one record per step, all ours) included


def test_links_made_by_a_run_never_bring_private_files_into_the_workspace(request, arena):
    expect_gap(request, arena.sandbox, {"private_data_hidden"}, "a hard link needs the private file in reach")
    targets = arena.targets()
    cmd = (f"ln -s {targets['private_dir']} lib/soft; ln -s {targets['log']} harness/log; "
           f"ln {targets['private_labels']} lib/hard.csv; cp {targets['private_labels']} lib/copy.csv; echo linked")
    outcome = arena.step({"op": "run", "cmd": cmd, "keep": ["lib", "harness"]})
    assert "linked" in outcome.obs["text"]
    files = arena.unwrapped.workspace.files()
    assert not [name for name in files if name.startswith(("lib/soft", "harness/log", "lib/hard", "lib/copy"))], files
    read = arena.step({"op": "read", "path": "lib/soft/labels.csv"})
    assert not read.info["ops"][0]["ok"] and "id,target,split" not in read.obs["text"]
    arena.assert_env_holds()


def test_budget_written_into_the_workspace_changes_nothing(make_env):
    arena = Arena(make_env(iterations=3, compute_seconds=600))
    big = json.dumps({"iterations": 10_000, "compute_seconds": None, "max_steps": 10_000})
    outcome = arena.step([{"op": "write", "path": path, "content": big}
                          for path in ("env.json", "harness/env.json", "harness/config.json", "budget.json")])
    assert outcome.info["budget"]["iterations_left"] == 2
    arena.step({"op": "run", "cmd": f"echo '{big}' > env.json; echo '{big}' > ../env.json", "keep": ["env.json"]})
    _, _, terminated, truncated, info = arena.env.step([{"op": "write", "path": "harness/x.md", "content": "x"},
                                                        {"op": "evaluate"}])
    assert truncated and not terminated and info["iteration"] == 3 and info["budget"]["iterations_left"] == 0
    assert json.loads((arena.unwrapped.run_dir / "env.json").read_text())["kwargs"]["iterations"] == 3
    arena.assert_protected_untouched()
    arena.assert_log_intact()


def test_names_git_treats_specially_neither_crash_the_env_nor_skew_its_history(arena):
    refused = arena.step([{"op": "write", "path": path, "content": "tasks/** export-ignore\n"} for path in GIT_NAMES])
    assert [entry["ok"] for entry in refused.info["ops"]] == [False] * len(GIT_NAMES)
    accepted = arena.step([{"op": "write", "path": path, "content": "x\n"} for path in ODD_NAMES])
    assert all(entry["ok"] for entry in accepted.info["ops"]) and accepted.info["evaluated"]
    reverted = arena.step({"op": "revert", "iteration": 0})  # the refused writes spent no iteration
    assert reverted.info["ops"][0]["ok"] and not any((arena.unwrapped.workspace_dir / p).exists() for p in ODD_NAMES)
    resumed, _, info = load_run(arena.unwrapped.run_dir)  # resume scores the exported commit
    try:
        assert info["losses"] == pytest.approx(reverted.info["losses"])
    finally:
        resumed.close()
    arena.assert_env_holds()


def test_revert_to_an_iteration_that_never_was_is_refused(arena):
    for iteration in (True, -1, 99, "1", 1.0, None):
        outcome = arena.step({"op": "revert", "iteration": iteration})
        assert not outcome.info["ops"][0]["ok"] and "ERROR" in outcome.obs["text"], iteration
        assert outcome.reward == 0.0 and outcome.info["losses"] == arena.start["losses"]
    arena.assert_env_holds()


def test_breaking_and_reverting_farms_no_reward(arena):
    """Rewards telescope: breaking a task and reverting it, again and again, nets exactly zero."""
    start, total = arena.start["loss"], 0.0
    broken = {"op": "write", "path": "tasks/wine/solution.py", "content": "raise SystemExit(1)\n"}
    for _ in range(3):
        total += arena.step(broken).reward
        total += arena.step({"op": "revert", "iteration": 0}).reward
    assert total == pytest.approx(0.0, abs=1e-12) and arena.previous_loss == pytest.approx(start)
    records = arena.assert_log_intact()
    assert sum(r["reward"] for r in records) == pytest.approx(0.0, abs=1e-12)
    arena.assert_env_holds()


def test_steps_after_the_end_earn_nothing_and_log_nothing(make_env):
    arena = Arena(make_env(iterations=1))
    _, _, terminated, truncated, info = arena.env.step({"op": "submit"})
    assert terminated and info["private_loss"] is not None
    lines = arena.log_path.read_text()
    for action in ({"op": "evaluate"}, {"op": "revert", "iteration": 0}, {"op": "write", "path": "harness/x", "content": "x"}):
        obs, reward, terminated, truncated, _ = arena.env.step(action)
        assert reward == 0.0 and terminated and "episode is over" in obs["text"]
    assert arena.log_path.read_text() == lines


def test_edits_cannot_fill_the_disk(arena, monkeypatch):
    used = sum(path.stat().st_size for path in arena.unwrapped.workspace_dir.rglob("*") if path.is_file())
    monkeypatch.setattr(operations, "MAX_WORKSPACE_BYTES", used + 2 * 1024**2)
    chunk = "x" * 1024**2  # in harness/, which no solution run sees: the grades stay cached
    outcome = arena.step([{"op": "write", "path": f"harness/fill-{i}.txt", "content": chunk} for i in range(4)])
    assert [entry["ok"] for entry in outcome.info["ops"]] == [True, True, False, False]
    assert "at most" in outcome.info["ops"][2]["error"]
    kept = arena.step({"op": "run", "cmd": "head -c 3000000 /dev/zero > harness/big.txt", "keep": ["harness"]})
    assert not kept.info["ops"][0]["ok"] and not (arena.unwrapped.workspace_dir / "harness/big.txt").exists()
    shrink = arena.step({"op": "write", "path": "harness/fill-0.txt", "content": ""})  # overwriting frees room
    assert shrink.info["ops"][0]["ok"]
    assert arena.step({"op": "write", "path": "harness/fill-2.txt", "content": chunk}).info["ops"][0]["ok"]
    monkeypatch.undo()
    arena.assert_env_holds()


def test_faked_clocks_do_not_cut_the_compute_bill(make_env):
    arena = Arena(make_env(iterations=20, compute_seconds=100, auto_evaluate=False))
    fake = ("python -c \"import time; real = time.sleep; [setattr(time, n, lambda: 0.0) for n in "
            "('time', 'monotonic', 'perf_counter', 'process_time')]; real(1.5); print('clock says', time.monotonic())\"")
    before = arena.unwrapped.stats()["compute_s"]
    outcome = arena.step({"op": "run", "cmd": fake})
    assert "clock says 0.0" in outcome.obs["text"]
    assert arena.unwrapped.stats()["compute_s"] - before >= 1.5
    assert outcome.info["budget"]["compute_left_s"] <= 100 - 1.5
    arena.assert_log_intact()


def test_oversized_actions_are_refused_whole(arena):
    too_many = arena.step([{"op": "read", "path": "harness/memory.md"}] * 40)
    assert too_many.info["ops"][-1]["op"] == "invalid" and "at most" in too_many.info["ops"][-1]["error"]
    huge = arena.step({"op": "write", "path": "harness/huge.md", "content": "x" * (operations.MAX_FILE_BYTES + 1)})
    assert not huge.info["ops"][0]["ok"] and not (arena.unwrapped.workspace_dir / "harness/huge.md").exists()
    arena.assert_env_holds()


def test_the_history_is_out_of_the_workspace_and_its_commits_restore_exactly(arena):
    """Nothing in the workspace is version control: the env's commits are the only history."""
    marker = uuid.uuid4().hex
    arena.step({"op": "write", "path": "harness/memory.md", "content": marker})
    arena.step({"op": "write", "path": "harness/memory.md", "content": "overwritten"})
    assert not list(arena.unwrapped.workspace_dir.rglob(".git*"))
    arena.step({"op": "revert", "iteration": 1})
    assert (arena.unwrapped.workspace_dir / "harness/memory.md").read_text() == marker
    assert Path(arena.targets()["history"]).is_dir()
    arena.assert_env_holds()
