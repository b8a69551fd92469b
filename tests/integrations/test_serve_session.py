"""The episode behind one client session: its own run directory, kept with --out, removed otherwise."""
from __future__ import annotations

import pytest

from rsigym.integrations.session import EpisodeSession, SessionClosed
from tests.integrations._serve_support import BETTER_WINE_CONFIG


def test_a_session_keeps_its_run_under_run_root_and_steps_after_an_implicit_reset(tmp_path):
    session = EpisodeSession("RSI-MLE-v0", {"suite": "toy", "tasks": ["wine"]}, seed=0, run_root=tmp_path)
    outcome = session.step({"op": "write", "path": "tasks/wine/config.json", "content": BETTER_WINE_CONFIG})
    assert outcome.reward > 0 and session.step_count == 1  # the first step started the episode itself
    assert "run_dir" not in outcome.info and "log_path" not in outcome.info
    assert "tasks/wine/config.json" in session.workspace_tree()
    run_dir = session.run_dir
    assert run_dir.parent == tmp_path and run_dir.name.startswith("RSI-MLE-v0__serve__")
    session.close()
    session.close()  # closing twice is harmless
    assert (run_dir / "log.jsonl").is_file()  # kept for analysis
    with pytest.raises(SessionClosed):
        session.reset()


def test_without_run_root_closing_removes_the_run_directory():
    session = EpisodeSession("RSI-MLE-v0", {"suite": "toy", "tasks": ["wine"]}, seed=0)
    session.reset()
    run_dir = session.run_dir
    assert run_dir.is_dir()
    session.close()
    assert not run_dir.exists()
