"""rsigym as a `verifiers <https://github.com/PrimeIntellect-ai/verifiers>`_ environment (its v1 stack).

:func:`load_environment` returns a multi-turn ``verifiers.v1.Env``: one rollout is one rsigym
episode. The model's reply each turn is an rsigym action (the ops of
:data:`rsigym.actions.OP_SPECS`, in the JSON protocol the reset observation spells out); the
env steps rsigym with it and sends the observation back as the next user turn, until the
episode ends (``submit``, budget, ``max_turns`` of the agent). The rollout's reward is rsigym's:
the sum of the step rewards (the loss decrease). A step the host failed (``info["infra_error"]``)
is listed in ``trace.info["infra_masked_steps"]``, makes ``trace.info["masked"]`` true and records
a ``SandboxError`` on the trace: the rollout is then not ``ok``, which is verifiers' mask (trainers
leave failed rollouts out of the update, ``vf-eval --resume`` runs them again).

The module is also a verifiers plugin: its ``__all__`` exports one ``Taskset``, one ``Env`` and
one ``Harness``, so ``vf-eval rsigym.integrations.verifiers --env.taskset.env_id RSI-MLE-v0 ...``
resolves all three from it (docs/integrations.md). The harness runs verifiers' own chat
program with this interpreter instead of a per-script ``uv`` environment, so it works offline.
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any, Iterator

import gymnasium as gym
import verifiers.v1 as vf
from verifiers.v1.harnesses.null import NullHarness, NullHarnessConfig
from verifiers.v1.runtimes import Runtime

import rsigym  # noqa: F401  (registers the env ids)

DEFAULT_ENV_ID = "RSI-MLE-v0"
SYSTEM_PROMPT = (
    "You improve an ML agent system inside the rsigym environment. Each of your replies is one "
    "rsigym action: a JSON object (or a list of them) with an \"op\" field, as the action protocol "
    "in the first message describes. The environment answers with the new observation. Lower the "
    "suite loss, then send {\"op\": \"submit\"}."
)


class RsigymTasksetConfig(vf.TasksetConfig):
    """Which rsigym episodes the taskset holds: one task per seed of ``env_id``."""

    env_id: str = DEFAULT_ENV_ID
    env_kwargs: dict[str, Any] = {}
    seeds: list[int] = [0]


class RsigymData(vf.TaskData):
    """One rsigym episode: the env id, its keyword arguments and the reset seed."""

    env_id: str = DEFAULT_ENV_ID
    env_kwargs: dict[str, Any] = {}
    seed: int = 0


class RsigymTask(vf.Task[RsigymData, vf.State, vf.TaskConfig]):
    """An rsigym episode; its reward is recorded by :class:`RsigymEnv` from the episode itself."""


class RsigymTaskset(vf.Taskset[RsigymTask, RsigymTasksetConfig]):
    """One task per seed: the user (the env) opens the conversation with the reset observation."""

    def load(self) -> Iterator[RsigymTask]:
        for seed in self.config.seeds:
            yield RsigymTask(
                RsigymData(
                    id=f"{self.config.env_id}/seed={seed}",
                    name=f"{self.config.env_id} seed {seed}",
                    system_prompt=SYSTEM_PROMPT,
                    env_id=self.config.env_id,
                    env_kwargs=dict(self.config.env_kwargs),
                    seed=seed,
                ),
                self.config.task,
            )


class RsigymEnvConfig(vf.EnvConfig):
    """The one seat, ``player``: the model that acts in the rsigym episode."""

    player: vf.AgentConfig = vf.AgentConfig()


class RsigymEnv(vf.Env[RsigymEnvConfig]):
    """Plays one rsigym episode per rollout, host-side, with the model's replies as actions."""

    async def run(self, task: vf.Task, agents: vf.Agents) -> None:
        data: RsigymData = task.data  # type: ignore[assignment]
        env = gym.make(data.env_id, **data.env_kwargs)
        try:
            episode = await asyncio.to_thread(_Episode, env, data.seed)
            async with agents.player.interaction(task) as interaction:
                segment = await interaction.turn(episode.text)
                while not segment.terminated:
                    await asyncio.to_thread(episode.step, segment.last_reply)
                    if episode.over:
                        break
                    segment = await interaction.turn(episode.text)
            trace = interaction.trace
            trace.record_reward("rsigym_reward", episode.total_reward, 1.0)
            trace.info.update(episode.summary())
            if episode.masked_steps:  # verifiers' mask: a failed rollout is left out of training and re-run by --resume
                trace.record_error(vf.SandboxError(
                    f"rsigym: {len(episode.masked_steps)} step(s) failed for infrastructure reasons, not the "
                    f"policy's: {episode.masked_steps[0]['infra_error']}"))
        finally:
            await asyncio.to_thread(env.close)


class _Episode:
    """The rsigym side of a rollout: the env's observation, summed rewards and masked steps."""

    def __init__(self, env: gym.Env, seed: int):
        self.env = env
        obs, info = env.reset(seed=seed)
        self.text: str = obs["text"]
        self.start_loss = float(info["loss"])
        self.loss = self.start_loss
        self.total_reward = 0.0
        self.steps = 0
        self.masked_steps: list[dict[str, Any]] = []
        self.over = False
        self.final_info: dict[str, Any] = info

    def step(self, action: str) -> None:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self.text = obs["text"]
        self.total_reward += float(reward)
        self.loss = float(info["loss"])
        if info.get("infra_error"):
            self.masked_steps.append({"step": info["step"], "infra_error": info["infra_error"]})
        self.over = bool(terminated or truncated)
        self.final_info = info

    def summary(self) -> dict[str, Any]:
        """What the trace keeps: losses, medals, and the infra-masked steps (``masked``)."""
        return {
            "rsigym_start_loss": self.start_loss,
            "rsigym_loss": self.loss,
            "rsigym_private_loss": self.final_info.get("private_loss"),
            "rsigym_medals": self.final_info.get("medals"),
            "rsigym_steps": self.steps,
            "rsigym_episode_over": self.over,
            "infra_masked_steps": self.masked_steps,
            "masked": bool(self.masked_steps),
        }


class _ThisInterpreter:
    """A runtime whose chat-program "uv script" is run by this very interpreter, which
    already has the program's dependencies (the ``integrations`` extra): no download."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)

    async def prepare_uv_script(self, script: str | bytes, env: dict[str, str] | None = None, *,
                                activate: bool = True) -> list[str]:
        data = script.encode() if isinstance(script, str) else script
        path = "rsigym-chat-program.py"
        await self._runtime.write(path, data)
        return [sys.executable, path]


class RsigymHarnessConfig(NullHarnessConfig):
    """Configuration of :class:`RsigymHarness` (that of verifiers' ``null`` chat loop)."""


class RsigymHarness(NullHarness):
    """verifiers' tool-less chat loop (the ``null`` harness), run on the host with this
    interpreter: the env, not a sandboxed program, executes the model's actions."""

    async def setup(self, runtime: Runtime) -> None:
        """Nothing to install: the chat program's packages are this interpreter's."""

    async def launch(self, ctx, trace, runtime, endpoint, secret, mcp_urls, data, tool_interception_url=None):
        return await super().launch(ctx, trace, _ThisInterpreter(runtime), endpoint, secret, mcp_urls, data,
                                    tool_interception_url)


# verifiers resolves plugins by a top-level module name: this module answers to that one too.
MODULE_ID = "rsigym_verifiers"
sys.modules.setdefault(MODULE_ID, sys.modules[__name__])


def load_environment(env_id: str = DEFAULT_ENV_ID, seeds: list[int] | None = None, max_turns: int | None = None,
                     **env_kwargs: Any) -> RsigymEnv:
    """A verifiers environment over rsigym's ``env_id``: one rollout per seed in ``seeds``
    (default ``[0]``), ``env_kwargs`` passed to ``gym.make`` (``tasks``, ``iterations``,
    ``scale``, ...), the ``player`` seat's turns capped at ``max_turns``. The seat runs
    :class:`RsigymHarness` in a subprocess runtime on this host; its model and client are
    set the way every verifiers env's are (``vf-eval --model ... --client.base_url ...``)."""
    config = vf.resolve_env_config({
        "taskset": {"id": MODULE_ID, "env_id": env_id, "env_kwargs": env_kwargs, "seeds": list(seeds or [0])},
        "player": {"harness": {"id": MODULE_ID}, "runtime": {"type": "subprocess"}, "max_turns": max_turns},
    })
    return vf.load_environment(config)  # type: ignore[return-value]


__all__ = ["RsigymTaskset", "RsigymEnv", "RsigymHarness", "load_environment"]
