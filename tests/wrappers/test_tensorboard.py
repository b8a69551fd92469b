"""TensorBoardLogger writes the expected tags and values, read back with TensorBoard's EventAccumulator."""
import gymnasium as gym
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from rsigym.wrappers.tensorboard import TensorBoardLogger


class ScriptedEnv(gym.Env):
    """Plays back a fixed loss sequence with the info keys of the rsigym env contract."""

    observation_space = gym.spaces.Box(0, 2, (1,))
    action_space = gym.spaces.Text(100)

    def __init__(self, run_dir, losses, iterations):
        self.run_dir, self.losses, self.iterations = run_dir, losses, iterations
        self.agent, self.model, self.covariates = "greedy", "tiny-llm", {"params_b": 0.5}

    def _info(self, loss, evaluated, kinds):
        return {"iteration": self.iteration, "step": self.steps, "loss": loss,
                "losses": {"digits": loss / 2, "wine": loss * 1.5}, "evaluated": evaluated, "kinds": kinds,
                "medals": {"digits": "gold" if loss < 0.5 else None, "wine": "bronze"},
                "budget": {"iterations_left": self.iterations - self.iteration,
                           "compute_left_s": 1000.0 - 10.0 * self.steps},
                "run_dir": str(self.run_dir)}

    def stats(self):
        return {"compute_s": 10.0 * self.steps}

    def reset(self, *, seed=None, options=None):
        self.episode = getattr(self, "episode", -1) + 1
        self.iteration = self.steps = 0
        self.loss = self.losses[0]
        return [self.loss], self._info(self.loss, False, [])

    def step(self, action):
        self.steps += 1
        evaluated = action == "evaluate"
        previous = self.loss
        if evaluated:
            self.iteration += 1
            self.loss = self.losses[self.iteration]
        done = self.iteration == self.iterations
        info = self._info(self.loss, evaluated, [] if evaluated else ["code"])
        if done:
            info["private_loss"] = self.loss + 0.1
        return [self.loss], previous - self.loss, done, False, info


def read(log_dir):
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events, {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}


def test_tags_and_values_read_back(tmp_path):
    env = TensorBoardLogger(ScriptedEnv(tmp_path, [1.0, 0.6, 0.4], iterations=2))
    env.reset(seed=3)
    for action in ("write", "evaluate", "write", "evaluate"):  # episode 0: edit, evaluate, twice
        env.step(action)
    env.reset()
    for action in ("evaluate", "evaluate"):
        env.step(action)
    env.close()

    events, scalars = read(tmp_path / "tb")  # the default log dir is <run>/tb
    # Each reset logs the starter (iteration 0) at the current global step: 0, then 4.
    assert [v for _, v in scalars["rsigym/loss/public"]] == pytest.approx([1.0, 1.0, 0.6, 0.6, 0.4, 1.0, 0.6, 0.4])
    assert [s for s, _ in scalars["rsigym/loss/public"]] == [0, 1, 2, 3, 4, 4, 5, 6]
    assert [v for _, v in scalars["rsigym/loss/wine"]] == pytest.approx([1.5, 1.5, 0.9, 0.9, 0.6, 1.5, 0.9, 0.6])
    assert [v for _, v in scalars["rsigym/medals/gold"]] == [0, 0, 0, 0, 1, 0, 0, 1]
    assert [v for _, v in scalars["rsigym/medals/bronze"]] == [1] * 8
    assert [v for _, v in scalars["rsigym/medals/any"]] == [1, 1, 1, 1, 2, 1, 1, 2]
    assert [v for _, v in scalars["rsigym/medals/silver"]] == [0] * 8
    assert scalars["rsigym/reward"] == [(1, 0.0), (2, pytest.approx(0.4)), (3, 0.0), (4, pytest.approx(0.2)),
                                        (5, pytest.approx(0.4)), (6, pytest.approx(0.2))]
    assert [v for _, v in scalars["rsigym/budget/iterations_left"]] == [2, 2, 1, 1, 0, 2, 1, 0]
    assert [v for _, v in scalars["rsigym/compute_s"]] == [0, 10, 20, 30, 40, 0, 10, 20]
    # Two episodes, each 0.6 gained over 2 iterations, ending at global steps 4 and 6.
    assert scalars["rsigym/velocity"] == [(4, pytest.approx(0.3)), (6, pytest.approx(0.3))]
    assert scalars["charts/episodic_return"] == [(4, pytest.approx(0.6)), (6, pytest.approx(0.6))]
    assert scalars["charts/episodic_length"] == [(4, 4), (6, 2)]
    assert [v for _, v in scalars["rsigym/private_loss"]] == pytest.approx([0.5, 0.5])
    assert [v for _, v in scalars["rsigym/private_public_gap"]] == pytest.approx([0.1, 0.1])
    # 0.6 gained in 40 then 20 compute seconds after the starter's evaluation
    assert [v for _, v in scalars["rsigym/velocity_per_compute_hour"]] == pytest.approx([0.6 * 90, 0.6 * 180])
    assert [v for _, v in scalars["hparams/velocity"]] == pytest.approx([0.3, 0.3])
    assert [v for _, v in scalars["hparams/private_loss"]] == pytest.approx([0.5, 0.5])
    assert len(events.Images("rsigym/improvement_curve")) == 2

    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    start = hparams_metadata.parse_session_start_info_plugin_data(content[hparams_metadata.SESSION_START_INFO_TAG])
    hparams = {name: value.string_value or value.number_value for name, value in start.hparams.items()}
    assert hparams == {"agent": "greedy", "model": "tiny-llm", "seed": 3, "env_id": "ScriptedEnv",
                       "covariate/params_b": 0.5}


def test_explicit_log_dir_and_no_figures(tmp_path):
    env = TensorBoardLogger(ScriptedEnv(tmp_path / "run", [1.0, 0.5], iterations=1), log_dir=tmp_path / "elsewhere",
                            figures=False)
    env.reset()
    env.step("evaluate")
    env.close()
    events, scalars = read(tmp_path / "elsewhere")
    assert scalars["rsigym/velocity"] == [(1, pytest.approx(0.5))]
    assert events.Tags()["images"] == []
    assert not (tmp_path / "run" / "tb").exists()


def test_step_before_reset_is_refused(tmp_path):
    env = TensorBoardLogger(ScriptedEnv(tmp_path, [1.0, 0.5], iterations=1))
    with pytest.raises(gym.error.ResetNeeded):
        env.step("evaluate")


@pytest.mark.slow
def test_live_events_match_the_run_log_of_the_real_env(tmp_path):
    import rsigym  # noqa: F401  (registers the ids)
    from rsigym.analysis.runlog import read_runs

    env = TensorBoardLogger(gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=2, run_dir=tmp_path, agent="greedy",
                                     covariates={"budget": 2}))
    env.reset(seed=0)
    env.step({"op": "write", "path": "harness/memory.md", "content": "notes"})
    env.step({"op": "write", "path": "harness/memory.md", "content": "more notes"})
    env.close()

    _, scalars = read(tmp_path / "tb")
    (run,) = read_runs(tmp_path / "log.jsonl")
    records = run.records  # the reset's record (the starter), then one per step
    assert [s for s, _ in scalars["rsigym/loss/public"]] == [0, 1, 2]
    assert [v for _, v in scalars["rsigym/loss/public"]] == pytest.approx([r["loss"] for r in records], abs=1e-6)
    assert [v for _, v in scalars["rsigym/loss/wine"]] == pytest.approx([r["losses"]["wine"] for r in records], abs=1e-6)
    assert [v for _, v in scalars["rsigym/reward"]] == pytest.approx([r["reward"] for r in records[1:]], abs=1e-6)
    assert [v for _, v in scalars["rsigym/compute_s"]] == pytest.approx([r["compute_s"] for r in records], abs=1e-3)
    assert [v for _, v in scalars["rsigym/budget/iterations_left"]] == [2 - r["iteration"] for r in records]
    assert "rsigym/budget/compute_left_s" not in scalars  # no compute budget was set
    assert {f"rsigym/medals/{m}" for m in ("gold", "silver", "bronze", "any")} <= set(scalars)
    assert [v for _, v in scalars["rsigym/private_loss"]] == pytest.approx([run.private_loss], abs=1e-6)
    assert scalars["charts/episodic_length"] == [(2, 2)]
