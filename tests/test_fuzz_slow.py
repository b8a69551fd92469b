"""10,000 hypothesis-drawn actions, valid and malformed, through one env: ``step()`` never
raises, every failed op's error is in the observation, and the run log gets one strict-JSON
record per step (slow suite).

Cheap by design: auto-evaluation off, one task, and edits to solution-visible files drawn
from a small vocabulary, so most evaluations they lead to are grade-cache hits.
"""
from __future__ import annotations

import json
import math

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rsigym  # noqa: F401  (registers the env ids)
from rsigym.actions import OPS
from rsigym.render import sanitize

pytestmark = pytest.mark.slow

ACTIONS_PER_EXAMPLE = 20
EXAMPLES = 500  # x ACTIONS_PER_EXAMPLE = 10,000 actions

STARTER_CONFIG = '{\n  "kind": "classification",\n  "model": "gaussian_nb"\n}'
# path -> the few contents a write may give it (files a solution run sees change the grade)
VOCABULARY = {
    "tasks/digits/config.json": [STARTER_CONFIG, "{broken"],
    "lib/extra.py": ["X = 1\n", "X = 2\n"],
    "harness/memory.md": ["# Memory\n", "tried svc\n", "\x00\u00e9\U0001F600 not all printable\n"],
    "harness/notes/deep/file.txt": ["a", ""],
}
# Paths the workspace refuses, and names git treats specially
TRICKY_PATHS = ["../escape", "/etc/passwd", ".git/HEAD", "lib/.git/x", "tasks", "", " ", "a/../../b", "harness/\x00x",
             "tasks/digits/../../../x", "weights/.gitmodules", "harness", "x" * 300, "harness/.GIT/x",
             "harness/git~1/x", ".gitattributes", "harness/.git./x", "weights", "tasks/digits",
             "harness/\udcff\udcfe", "weights/\ud800.bin"]  # the last two: names that are not UTF-8
# Commands whose kept files are hostile: a name that is not UTF-8, symlinks out of the copy, a
# large file, a flood of output, and a checkpoint that merges can then write into folders.
RUN_COMMANDS = ["true", "echo hi > harness/ran.txt", "exit 3", "cat /nonexistent",
                "python3 -c \"open(b'harness/\\xff\\xfe.md', 'wb').write(b'x')\"",
                "ln -s /etc/passwd harness/passwd; ln -s .. harness/up; ln -s ../../private harness/private",
                "head -c 3000000 /dev/zero > harness/big.bin",
                "yes rsigym | head -c 2000000",
                "python3 -c \"import numpy as np; from safetensors.numpy import save_file; "
                "save_file({'w': np.ones(2, dtype=np.float32)}, 'harness/w.safetensors')\""]


def weighted(*pairs: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """Draw from each strategy with probability proportional to its weight."""
    total = sum(weight for weight, _ in pairs)

    def pick(draw: int) -> st.SearchStrategy:
        for weight, strategy in pairs:
            if draw < weight:
                return strategy
            draw -= weight
        raise AssertionError("unreachable")

    return st.integers(0, total - 1).flatmap(pick)


paths = weighted((6, st.sampled_from(sorted(VOCABULARY))), (3, st.sampled_from(TRICKY_PATHS)), (1, st.text(max_size=20)))
# Free-form content only where no solution run looks: a new grade for every draw would cost seconds.
free_paths = weighted((6, st.sampled_from(["harness/memory.md", "harness/free.md", "harness/notes/deep/file.txt"])),
                      (3, st.sampled_from(TRICKY_PATHS)), (1, st.text(max_size=20).map(lambda name: f"harness/{name}")))
writes = st.sampled_from(sorted(VOCABULARY)).flatmap(
    lambda path: st.sampled_from(VOCABULARY[path]).map(lambda content: {"op": "write", "path": path, "content": content}))
diff_lines = st.sampled_from(["@@ -1 +1 @@", "-# Memory", "+# Memory!", " context", "--- a", "+++ b", "garbage"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=True), st.text(max_size=20))
junk_fields = st.dictionaries(st.sampled_from(["path", "content", "diff", "cmd", "timeout", "keep", "inputs", "weights",
                                               "out", "iteration", "extra"]),
                              st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4)
# Weights keep the costly ops (git for revert and evaluate, a sandbox for run) rare.
valid_ops = weighted(
    (30, writes),
    (15, st.builds(lambda path, content: {"op": "write", "path": path, "content": content}, free_paths, st.text(max_size=40))),
    (20, st.builds(lambda path: {"op": "read", "path": path}, paths)),
    (15, st.builds(lambda path, lines: {"op": "patch", "path": path, "diff": "\n".join(lines) + "\n"},
                   paths, st.lists(diff_lines, max_size=4))),
    (4, st.builds(lambda iteration: {"op": "revert", "iteration": iteration}, st.integers(-1, 12))),
    (5, st.builds(lambda inputs, out: {"op": "merge", "inputs": inputs, "out": out}, st.lists(paths, max_size=2), paths)),
    (1, st.builds(lambda out: {"op": "merge", "inputs": ["harness/w.safetensors"], "out": out},
                  st.sampled_from(["tasks", "weights", "harness", "lib", "tasks/digits", "harness/merged.safetensors"]))),
    (3, st.just({"op": "evaluate"})),
    (1, st.builds(lambda cmd, keep: {"op": "run", "cmd": cmd, "timeout": 20, "keep": keep},
                  st.sampled_from(RUN_COMMANDS), st.lists(st.sampled_from(["harness", "../x", "lib"]), max_size=1))),
)
malformed = st.one_of(
    st.builds(lambda name, fields: {"op": name, **fields}, st.sampled_from(sorted(OPS) + ["bogus", "", None]), junk_fields),
    st.text(max_size=60),
    st.binary(max_size=40),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.just([]),
    st.just([{"op": "read", "path": "harness/memory.md"}] * 40),
    st.builds(lambda opener, depth: opener * depth, st.sampled_from(["[", '{"op": ', '[{"op": [']), st.integers(1, 100_000)),
)
actions = weighted(
    (240, valid_ops),
    (60, st.lists(valid_ops, min_size=1, max_size=4)),
    (80, malformed),
    (16, valid_ops.map(json.dumps)),
    (1, st.just({"op": "submit"})),  # ends the episode: the next action comes after a reset
)


class LogFollower:
    """Reads only what was appended to the run log since the last call."""

    def __init__(self, path):
        self.path, self.offset = path, 0

    def new_records(self) -> list[dict]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        assert data.endswith(b"\n") or not data
        return [json.loads(line, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
                for line in data.splitlines()]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=["digits"], iterations=100_000, max_steps=100_000, auto_evaluate=False,
                   run_dir=tmp_path_factory.mktemp("fuzz-slow"))
    env.reset(seed=0)
    state = {"env": env, "log": LogFollower(env.unwrapped.log.path), "steps": 0}
    state["log"].new_records()
    yield state
    env.close()
    assert state["steps"] >= EXAMPLES * ACTIONS_PER_EXAMPLE


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(actions, min_size=ACTIONS_PER_EXAMPLE, max_size=ACTIONS_PER_EXAMPLE))
def test_ten_thousand_actions_never_raise_and_always_report_their_errors(fuzzed, batch):
    env, log = fuzzed["env"], fuzzed["log"]
    for action in batch:
        obs, reward, terminated, truncated, info = env.step(action)
        fuzzed["steps"] += 1
        assert obs in env.observation_space
        assert isinstance(reward, float) and math.isfinite(reward)
        for entry in info["ops"]:
            if not entry["ok"]:
                assert entry["error"], entry
                assert sanitize(entry["error"].splitlines()[0])[:60] in obs["text"], (entry, obs["text"][-2000:])
        (record,) = log.new_records()
        assert record["step"] == info["step"] and record["ops"] == info["ops"]
        if terminated or truncated:
            env.reset(seed=0)
            assert len(log.new_records()) == 1
