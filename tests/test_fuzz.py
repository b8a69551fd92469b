"""Random and malformed actions never raise from step(), and every failure is observed."""
import json

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rsigym  # noqa: F401
from rsigym.actions import OPS

# names that are not UTF-8: lone surrogates become undecodable bytes in a file name
surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
paths = st.one_of(
    st.sampled_from(["tasks/digits/config.json", "harness/memory.md", "lib/x.py", "weights/w.safetensors",
                     "../escape", "/etc/passwd", ".git/HEAD", "tasks", "", "a/../../b", "weights", "tasks/digits"]),
    st.text(max_size=30),
    surrogates.map(lambda name: f"weights/{name}"),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.floats(allow_nan=True), st.text(max_size=40), paths)
fields = st.dictionaries(st.sampled_from(["path", "content", "diff", "cmd", "timeout", "keep", "inputs", "weights", "out",
                                          "iteration", "extra"]), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4)
op_dicts = st.builds(lambda name, extra: {"op": name, **extra}, st.sampled_from(sorted(OPS) + ["bogus", None]), fields)
# Commands whose kept files are hostile: a name that is not UTF-8, symlinks out of the copy,
# a large file, a flood of output; and a checkpoint to merge into existing folders.
RUN_COMMANDS = [
    "python3 -c \"open(b'weights/\\xff\\xfe.bin', 'wb').write(b'x')\"",
    "ln -s /etc/passwd harness/passwd; ln -s .. weights/up; ln -s ../../private lib/private",
    "head -c 3000000 /dev/zero > weights/big.bin",
    "yes rsigym | head -c 2000000",
    "python3 -c \"import numpy as np; from safetensors.numpy import save_file; "
    "save_file({'w': np.ones(2, dtype=np.float32)}, 'weights/w.safetensors')\"",
]
hostile_runs = st.builds(lambda cmd, keep: {"op": "run", "cmd": cmd, "timeout": 20, "keep": keep},
                         st.sampled_from(RUN_COMMANDS), st.lists(st.sampled_from(["weights", "harness", "lib"]), max_size=2))
folder_outputs = st.builds(lambda out: {"op": "merge", "inputs": ["weights/w.safetensors"], "out": out},
                           st.sampled_from(["tasks", "weights", "harness", "lib", "tasks/digits"]))
deep_nesting = st.builds(lambda opener, depth: opener * depth, st.sampled_from(["[", '{"op": ', "[{\"op\": [", "{\"a\": ["]),
                         st.integers(1, 100_000))
actions = st.one_of(
    st.text(max_size=200),
    op_dicts,
    hostile_runs,
    folder_outputs,
    st.lists(st.one_of(op_dicts, folder_outputs, st.just({"op": "evaluate"})), max_size=4),
    deep_nesting,
    st.lists(op_dicts, max_size=4),
    op_dicts.map(json.dumps),
    st.binary(max_size=50),
    st.integers(),
    st.none(),
)


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["digits"], iterations=10_000, max_steps=10_000, auto_evaluate=False,
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
