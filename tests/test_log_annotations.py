"""The log-record hook: agents add their own fields (e.g. token usage) to the next run-log record."""
import gymnasium as gym
import pytest

from rsigym.runlog import read_log


def test_annotations_go_into_the_next_record_only(make_env):
    env = make_env(tasks=["digits"], iterations=3)
    base = env.unwrapped
    with pytest.raises(gym.error.ResetNeeded):
        base.annotate_next_record(usage={"prompt_tokens": 1, "completion_tokens": 1})
    env.reset(seed=0)
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    base.annotate_next_record(usage=usage)
    usage["prompt_tokens"] = 999  # the hook keeps a copy
    env.step({"op": "evaluate"})
    env.step({"op": "evaluate"})
    records = list(read_log(base.log.path))
    assert [r.get("usage") for r in records] == [None, {"prompt_tokens": 7, "completion_tokens": 3}, None]


@pytest.mark.parametrize("fields, error", [
    ({"loss": 0.0}, ValueError),  # the env's own fields cannot be rewritten
    ({"private_loss": 0.0}, ValueError),
    ({"tasks": {}}, ValueError),
    ({"usage": {1, 2}}, TypeError),  # not JSON
    ({"usage": float("nan")}, ValueError),
])
def test_annotations_that_would_corrupt_the_log_are_refused(make_env, fields, error):
    env = make_env(tasks=["digits"], iterations=2)
    env.reset(seed=0)
    with pytest.raises(error):
        env.unwrapped.annotate_next_record(**fields)
    env.step({"op": "evaluate"})
    last = list(read_log(env.unwrapped.log.path))[-1]
    assert "usage" not in last and last["loss"] == env.unwrapped.result.loss


def test_annotations_left_from_an_ended_episode_are_dropped_at_reset(make_env):
    env = make_env(tasks=["digits"], iterations=1)
    env.reset(seed=0)
    env.step({"op": "evaluate"})  # the episode ends
    env.unwrapped.annotate_next_record(usage={"prompt_tokens": 1, "completion_tokens": 1})
    env.reset(seed=1)
    assert "usage" not in list(read_log(env.unwrapped.log.path))[-1]
