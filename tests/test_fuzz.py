"""Random and malformed actions never raise from step(), and every failure is observed."""
import json

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rsigym  # noqa: F401
from rsigym.actions import OPS

paths = st.one_of(
    st.sampled_from(["tasks/digits/config.json", "harness/memory.md", "lib/x.py", "weights/w.safetensors",
                     "../escape", "/etc/passwd", ".git/HEAD", "tasks", "", "a/../../b"]),
    st.text(max_size=30),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.floats(allow_nan=True), st.text(max_size=40), paths)
fields = st.dictionaries(st.sampled_from(["path", "content", "diff", "cmd", "timeout", "keep", "inputs", "weights", "out",
                                          "iteration", "extra"]), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4)
op_dicts = st.builds(lambda name, extra: {"op": name, **extra}, st.sampled_from(sorted(OPS) + ["bogus", None]), fields)
actions = st.one_of(
    st.text(max_size=200),
    op_dicts,
    st.lists(op_dicts, max_size=4),
    op_dicts.map(json.dumps),
    st.binary(max_size=50),
    st.integers(),
    st.none(),
)


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    env = gym.make("RSI-MLE-v0", tasks=["digits"], iterations=10_000, max_steps=10_000, auto_evaluate=False,
                   run_dir=tmp_path_factory.mktemp("fuzz"))
    env.reset(seed=0)
    yield env
    env.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(action=actions)
def test_step_never_raises_and_reports_errors(fuzz_env, action):
    obs, reward, terminated, truncated, info = fuzz_env.step(action)
    assert obs in fuzz_env.observation_space
    for op in info["ops"]:
        if not op["ok"]:
            assert op["error"] and "ERROR" in obs["text"]
    if terminated or truncated:
        fuzz_env.reset(seed=0)
