"""rsigym as an OpenEnv environment server: reset, step and state for openenv-core's clients.

Built on openenv-core's own server (``create_fastapi_app``): every WebSocket session (``/ws``,
what ``EnvClient`` and ``GenericEnvClient`` use) gets its own :class:`RSIEnvironment`, hence
its own env, run directory and sandbox, closed when the client disconnects. The stateless
HTTP ``/reset`` and ``/step`` endpoints build a throw-away env per request, as openenv-core
does for every environment; an episode needs a WebSocket session.

An action is one op of the action protocol (:data:`rsigym.actions.OP_SPECS`):
``{"op": "write", "path": ..., "content": ...}``. The observation carries the observation
text, the public losses, the iteration and the budget left; ``reward`` and ``done`` are the
env's (``done`` = terminated or truncated). An action the protocol refuses is answered in the
observation text and costs its step, as in the Gymnasium env; one that does not fit
:class:`RSIAction` at all is answered with an error message and the session goes on.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

from openenv.core.env_server.http_server import create_fastapi_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, EnvironmentMetadata, Observation, State
from pydantic import ConfigDict, Field, create_model

from rsigym.actions import OP_SPECS
from rsigym.integrations.session import EpisodeSession, StepOutcome


class _StrictAction(Action):
    # Strict: a string "3" is not an iteration number; rsigym's own validation then sees the real types.
    model_config = ConfigDict(strict=True)


def _op_fields() -> dict[str, Any]:
    """Every field of every op, optional (which op needs which is checked by rsigym's validation)."""
    fields: dict[str, Any] = {"op": (Literal[tuple(OP_SPECS)], Field(description="the op: " + "; ".join(
        f"{name}: {spec.doc}" for name, spec in OP_SPECS.items())))}
    for spec in OP_SPECS.values():
        for key, field in spec.fields.items():
            annotation = Union[field.types] if len(field.types) > 1 else field.types[0]
            fields.setdefault(key, (Optional[annotation], Field(default=None, description=field.doc)))
    return fields


RSIAction = create_model("RSIAction", __base__=_StrictAction, __doc__="One op of rsigym's action protocol.",
                         **_op_fields())


def to_rsigym_action(action: Action) -> dict[str, Any]:
    """The rsigym op of an :class:`RSIAction`: its ``op`` and the fields it sets."""
    fields = action.model_dump(exclude={"metadata"}, exclude_none=True)
    return {"op": fields.pop("op"), **fields}


class RSIObservation(Observation):
    """What the policy sees after a reset or a step."""

    text: str = Field(default="", description="the observation text (Markdown)")
    loss: Optional[float] = Field(default=None, description="the public suite loss (lower is better)")
    losses: dict[str, float] = Field(default_factory=dict, description="public loss per task")
    iteration: int = Field(default=0, description="evaluations of a changed workspace so far")
    iterations_left: Optional[int] = Field(default=None, description="iterations left in the budget")
    terminated: bool = Field(default=False, description="the episode ended by a submit")
    truncated: bool = Field(default=False, description="the episode ended by its budget")
    info: dict[str, Any] = Field(default_factory=dict, description="the env's info (JSON-safe, no server paths)")


class RSIState(State):
    """The episode's id and step count (OpenEnv's), and where it stands."""

    env_id: str = ""
    iteration: int = 0
    loss: Optional[float] = None
    done: bool = False


def _observation(outcome: StepOutcome) -> RSIObservation:
    info = outcome.info
    return RSIObservation(text=outcome.text, loss=info.get("loss"), losses=info.get("losses", {}),
                          iteration=info.get("iteration", 0),
                          iterations_left=info.get("budget", {}).get("iterations_left"),
                          terminated=outcome.terminated, truncated=outcome.truncated, info=info,
                          reward=outcome.reward, done=outcome.done)


class RSIEnvironment(Environment):
    """An rsigym env behind openenv-core's server: one per session, built at its first reset or step."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # each instance has its own env, run directory and sandbox

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any], seed: Optional[int] = None,
                 run_root: Optional[Path] = None):
        super().__init__()
        self.session = EpisodeSession(env_id, env_kwargs, seed=seed, run_root=run_root)

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, **kwargs: Any) -> RSIObservation:
        """Start a new episode (``seed`` defaults to the server's)."""
        return _observation(self.session.reset(seed))

    def step(self, action: Action, timeout_s: Optional[float] = None, **kwargs: Any) -> RSIObservation:
        """Apply one op; the first step of a session starts its episode first."""
        return _observation(self.session.step(to_rsigym_action(action)))

    @property
    def state(self) -> RSIState:
        last = self.session.last
        return RSIState(episode_id=self.session.episode_id, step_count=self.session.step_count,
                        env_id=self.session.env_id, iteration=last.info.get("iteration", 0) if last else 0,
                        loss=last.info.get("loss") if last else None, done=last.done if last else False)

    def get_metadata(self) -> EnvironmentMetadata:
        import rsigym

        return EnvironmentMetadata(name=self.session.env_id, version=rsigym.__version__,
                                   description="rsigym: improve an agent system in a workspace so that its "
                                               "loss on a suite of ML tasks falls (docs/integrations.md)")

    def close(self) -> None:
        """Close the env: its sandbox, and its run directory when the env made it."""
        self.session.close()


def build_app(env_id: str, env_kwargs: Mapping[str, Any], seed: Optional[int] = None,
              run_root: Optional[Path] = None, max_sessions: int = 64):
    """openenv-core's FastAPI app serving ``env_id`` to at most ``max_sessions`` concurrent WebSocket sessions."""
    factory = functools.partial(RSIEnvironment, env_id=env_id, env_kwargs=dict(env_kwargs), seed=seed,
                                run_root=run_root)
    return create_fastapi_app(factory, RSIAction, RSIObservation, max_concurrent_envs=max_sessions)
