"""CarryOver hands harness/ (and weights/ when asked) from one episode's workspace to the next."""
import gymnasium as gym
import pytest

from rsigym.wrappers.carry_over import CarryOver


class WorkspaceEnv(gym.Env):
    """A fresh workspace per episode, seeded from ``options["files"]`` as the rsigym env does."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Text(100)

    def __init__(self, root):
        self.root, self.episode = root, -1
        self.received = []

    def reset(self, *, seed=None, options=None):
        self.episode += 1
        self.workspace_dir = self.root / f"episode{self.episode}" / "workspace"
        (self.workspace_dir / "harness").mkdir(parents=True)
        (self.workspace_dir / "harness" / "prompt.md").write_text("starter prompt")
        files = (options or {}).get("files", {})
        self.received.append(sorted(files))
        for path, content in files.items():
            target = self.workspace_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return 0, {}

    def step(self, action):
        path, content = action.split("=", 1)
        target = self.workspace_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return 0, 0.0, True, False, {}


def test_harness_carries_over_and_weights_stay(tmp_path):
    base = WorkspaceEnv(tmp_path)
    env = CarryOver(base)
    _, info = env.reset(seed=0)
    assert info["carried_files"] == [] and base.received == [[]]
    env.step("harness/memory.md=tried lr 0.1: worse")
    env.step("harness/tools/search.py=print('x')")
    env.step("weights/model.safetensors=abc")
    env.step("tasks/digits/solution.py=print(1)")
    _, info = env.reset()
    assert info["carried_files"] == ["harness/memory.md", "harness/prompt.md", "harness/tools/search.py"]
    new = base.workspace_dir
    assert (new / "harness" / "memory.md").read_text() == "tried lr 0.1: worse"
    assert (new / "harness" / "tools" / "search.py").read_text() == "print('x')"
    assert not (new / "weights").exists() and not (new / "tasks").exists()

    # What episode 1 ends with is what episode 2 gets, not episode 0's files.
    env.step("harness/memory.md=lr 0.01 helps")
    env.reset()
    assert (base.workspace_dir / "harness" / "memory.md").read_text() == "lr 0.01 helps"


def test_weights_on_request_and_explicit_files_win(tmp_path):
    base = WorkspaceEnv(tmp_path)
    env = CarryOver(base, weights=True)
    env.reset()
    env.step("weights/model.safetensors=abc")
    env.step("harness/memory.md=old")
    env.reset(options={"files": {"harness/memory.md": b"given"}})
    assert (base.workspace_dir / "weights" / "model.safetensors").read_text() == "abc"
    assert (base.workspace_dir / "harness" / "memory.md").read_text() == "given"


@pytest.mark.slow
def test_real_env_workspace_gets_the_harness(tmp_path):
    import rsigym  # noqa: F401  (registers the ids)
    from rsigym.analysis.runlog import read_runs

    env = CarryOver(gym.make("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=1, run_dir=tmp_path))
    env.reset(seed=0)
    env.step({"op": "write", "path": "harness/memory.md", "content": "episode 0 learned this"})
    _, info = env.reset(seed=1)
    assert "harness/memory.md" in info["carried_files"]
    assert (env.unwrapped.workspace_dir / "harness" / "memory.md").read_text() == "episode 0 learned this"
    env.close()
    assert [run.episode for run in read_runs(tmp_path / "log.jsonl")] == [0, 1]
