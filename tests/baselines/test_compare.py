"""The comparison script: velocities read back from every agent's held-out episodes, tables and figures."""
import json
import math

import pytest

from rsigym.baselines import compare


@pytest.mark.slow
def test_compare_writes_tables_results_and_figures(tmp_path):
    results = compare.main(["--out", str(tmp_path / "out"), "--tasks", "wine", "--iterations", "2", "--eval-seeds", "0",
                            "--agent-seeds", "3", "--agents", "random", "greedy", "menu-random"])
    assert set(results["agents"]) == {"random", "greedy", "menu-random"}
    assert all(entry["episodes"] == 1 for entry in results["agents"].values())
    for entry in results["agents"].values():
        assert math.isfinite(entry["velocity"]) and math.isfinite(entry["final_loss"])
        assert entry["velocity"] == pytest.approx(sum(entry["velocities"]) / len(entry["velocities"]))
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["per_seed"]["random"].keys() == {"3"}
    assert {name: entry["velocities"] for name, entry in saved["agents"].items()} == {
        name: entry["velocities"] for name, entry in results["agents"].items()}
    tables = (tmp_path / "out" / "tables.md").read_text()
    assert "| menu-random |" in tables and "velocity (95 % CI)" in tables
    assert (tmp_path / "out" / "figures" / "baselines-heldout-curves.png").stat().st_size > 0
