"""Replaying a run log into TensorBoard, read back with TensorBoard's own EventAccumulator."""
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from rsigym.analysis.runlog import read_runs
from rsigym.analysis.tensorboard import replay_run


def test_replayed_events_hold_the_run(make_log, tmp_path):
    run_dir = make_log("r", [[1.0, 0.8, 0.6, 0.5], [1.0, 0.7, 0.4]], agent="greedy", seed=7,
                       covariates={"params_b": 7})
    replay_run(read_runs(run_dir / "log.jsonl"), tmp_path / "tb")
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    # Five steps over two episodes; each reset logs its starter at the current global step.
    assert [v for _, v in scalars["rsigym/loss/public"]] == pytest.approx([1.0, 0.8, 0.6, 0.5, 1.0, 0.7, 0.4])
    assert [s for s, _ in scalars["rsigym/loss/public"]] == [0, 1, 2, 3, 3, 4, 5]
    assert [v for _, v in scalars["rsigym/loss/short"]] == pytest.approx([0.4, 0.32, 0.24, 0.2, 0.4, 0.28, 0.16])
    assert [v for _, v in scalars["rsigym/reward"]] == pytest.approx([0.2, 0.2, 0.1, 0.3, 0.3])
    assert scalars["rsigym/velocity"] == [(3, pytest.approx(0.5 / 3)), (5, pytest.approx(0.3))]
    assert scalars["charts/episodic_return"] == [(3, pytest.approx(0.5)), (5, pytest.approx(0.6))]
    assert scalars["charts/episodic_length"] == [(3, 3), (5, 2)]
    assert [v for _, v in scalars["rsigym/private_loss"]] == pytest.approx([0.55, 0.45])
    assert [v for _, v in scalars["hparams/velocity"]] == pytest.approx([0.5 / 3, 0.3])
    assert "rsigym/improvement_curve" in events.Tags()["images"]
    assert not any(tag.startswith("rsigym/medals/") for tag in scalars)  # the run log keeps no medals

    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    start = hparams_metadata.parse_session_start_info_plugin_data(content[hparams_metadata.SESSION_START_INFO_TAG])
    assert start.hparams["agent"].string_value == "greedy"
    assert start.hparams["seed"].number_value == 7
    assert start.hparams["covariate/params_b"].number_value == 7
    experiment = hparams_metadata.parse_experiment_plugin_data(content[hparams_metadata.EXPERIMENT_TAG])
    assert {m.name.tag for m in experiment.metric_infos} == {"hparams/velocity", "hparams/private_loss"}
