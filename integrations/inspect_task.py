"""rsigym as an `inspect_ai <https://inspect.aisi.org.uk>`_ task: an rsigym episode per sample,
played by any inspect model with rsigym's ops as tools.

``rsigym_task(env_id, ...)`` returns an inspect ``Task``: one sample per seed, the solver
:func:`rsigym_agent` (the reset observation as the first user message, one tool per op of
:data:`rsigym.actions.OP_SPECS`, turns until the episode ends), and the scorer
:func:`rsigym_scorer`, which reports the final public loss, the loss decrease, the velocity
(gain per iteration, :func:`rsigym.analysis.curves.curve_metrics` over the episode's run log),
the medals, and the steps the host failed (``infra_masked_steps``; a sample holding one is
marked ``masked`` so an analysis can leave it out).
"""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Sequence

import gymnasium as gym
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageUser
from inspect_ai.scorer import Score, Target, mean, scorer
from inspect_ai.solver import Generate, TaskState, solver
from inspect_ai.tool import Tool, ToolDef, ToolParams

import rsigym  # noqa: F401  (registers the env ids)
from rsigym.analysis.curves import curve_metrics
from rsigym.analysis.runlog import load_runs
from rsigym.integrations.op_tools import op_tool_specs

DEFAULT_ENV_ID = "RSI-MLE-v0"
STORE_KEY = "rsigym"  # the episode's summary in the sample's store, for the scorer


class EpisodeSession:
    """One rsigym episode behind the tools of a sample: steps, summed rewards, masked steps."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], seed: int):
        self.env = gym.make(env_id, **env_kwargs)
        obs, info = self.env.reset(seed=seed)
        self.text: str = obs["text"]
        self.start_loss = float(info["loss"])
        self.info: dict[str, Any] = info
        self.total_reward = 0.0
        self.steps = 0
        self.masked_steps: list[dict[str, Any]] = []
        self.over = False

    def step(self, action: Any) -> str:
        """Apply one rsigym action (an op dict or JSON text); the observation text it gives."""
        if self.over:
            return "The episode is over."
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self.total_reward += float(reward)
        self.info = info
        self.text = obs["text"]
        if info.get("infra_error"):
            self.masked_steps.append({"step": info["step"], "infra_error": info["infra_error"]})
        self.over = bool(terminated or truncated)
        return self.text

    def summary(self) -> dict[str, Any]:
        """Loss, velocity, medals and masked steps, read before the env (and its run log) is closed."""
        run = load_runs([self.info["log_path"]])[-1]
        velocity = curve_metrics(run.curve()).velocity
        return {
            "start_loss": self.start_loss,
            "loss": float(self.info["loss"]),
            "loss_decrease": self.start_loss - float(self.info["loss"]),
            "total_reward": self.total_reward,
            "velocity": None if math.isnan(velocity) else velocity,  # NaN: no iteration was spent
            "medals": self.info.get("medals", {}),
            "private_loss": self.info.get("private_loss"),
            "steps": self.steps,
            "episode_over": self.over,
            "infra_masked_steps": self.masked_steps,
            "masked": bool(self.masked_steps),
        }

    def close(self) -> None:
        self.env.close()


def op_tools(session: EpisodeSession) -> list[Tool]:
    """One inspect tool per rsigym op; each call is one env step, its result the observation text."""

    def make(name: str) -> Any:
        async def execute(**arguments: Any) -> str:
            return await asyncio.to_thread(session.step, {"op": name, **arguments})

        return execute

    return [
        ToolDef(make(spec["name"]), name=spec["name"], description=spec["description"],
                parameters=ToolParams.model_validate(spec["parameters"])).as_tool()
        for spec in op_tool_specs()
    ]


@solver
def rsigym_agent(max_turns: int = 40):
    """Play the sample's rsigym episode: the model calls op tools (or replies with a JSON action,
    which is stepped as one) until the episode ends or ``max_turns`` model turns were taken."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        session = await asyncio.to_thread(EpisodeSession, meta["env_id"], meta["env_kwargs"], meta["seed"])
        try:
            state.messages.append(ChatMessageUser(content=session.text))
            state.tools = op_tools(session)
            for _ in range(max_turns):
                state = await generate(state, tool_calls="single")
                if not state.output.message.tool_calls:  # a reply in text is an action in rsigym's JSON protocol
                    text = await asyncio.to_thread(session.step, state.output.completion)
                    state.messages.append(ChatMessageUser(content=text))
                if session.over:
                    break
            state.store.set(STORE_KEY, await asyncio.to_thread(session.summary))
        finally:
            await asyncio.to_thread(session.close)
        return state

    return solve


@scorer(metrics={"loss": [mean()], "loss_decrease": [mean()], "velocity": [mean()], "medals": [mean()]})
def rsigym_scorer():
    """The episode's final public loss, its decrease, the velocity and the number of medals won."""

    async def score(state: TaskState, target: Target) -> Score:
        summary = state.store.get(STORE_KEY)
        if summary is None:
            return Score(value={"loss": float("nan"), "loss_decrease": 0.0, "velocity": 0.0, "medals": 0.0},
                         explanation="the episode did not finish its solver")
        medals = summary["medals"] or {}
        return Score(
            value={
                "loss": summary["loss"],
                "loss_decrease": summary["loss_decrease"],
                "velocity": summary["velocity"] or 0.0,
                "medals": float(sum(1 for medal in medals.values() if medal)),
            },
            answer=json.dumps(medals),
            explanation=f"suite loss {summary['start_loss']:.4f} -> {summary['loss']:.4f} in {summary['steps']} steps",
            metadata=summary,
        )

    return score


@task
def rsigym_task(env_id: str = DEFAULT_ENV_ID, seeds: Sequence[int] = (0,), max_turns: int = 40,
                **env_kwargs: Any) -> Task:
    """An inspect ``Task`` over rsigym's ``env_id``: one sample per seed, ``env_kwargs`` passed
    to ``gym.make`` (``tasks``, ``iterations``, ``scale``, ...), at most ``max_turns`` model turns."""
    samples = [
        Sample(input=f"Play the rsigym episode {env_id} (seed {seed}): lower the suite loss, then submit.",
               id=f"{env_id}-seed{seed}", metadata={"env_id": env_id, "env_kwargs": dict(env_kwargs), "seed": seed})
        for seed in seeds
    ]
    return Task(dataset=samples, solver=rsigym_agent(max_turns), scorer=rsigym_scorer())
