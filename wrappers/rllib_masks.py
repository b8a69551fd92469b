"""RLlib: leave infrastructure-masked steps out of the update.

A step the host failed carries ``info["infra_error"]`` (reward 0, nothing graded; see
docs/security.md). :class:`DropInfraMaskedEpisodes` is an RLlib callback that removes every
sampled episode chunk holding such a step before it reaches the learner, and counts them in
the metric ``rsigym_infra_masked_episodes``::

    config = PPOConfig().environment("RSI-MLE-Menu-v0").callbacks(DropInfraMaskedEpisodes)

Needs RLlib (``pip install 'ray[rllib]'``); import this module only where RLlib is installed.
"""
from __future__ import annotations

from typing import Any, Iterable

from ray.rllib.callbacks.callbacks import RLlibCallback

MASKED_EPISODES_METRIC = "rsigym_infra_masked_episodes"


def holds_masked_step(infos: Iterable[Any]) -> bool:
    """Whether any of a chunk's step infos marks an infrastructure failure."""
    return any(isinstance(info, dict) and info.get("infra_error") for info in infos)


class DropInfraMaskedEpisodes(RLlibCallback):
    """Drops the sampled episode chunks (single-agent episodes of the new API stack) that hold a
    masked step, so their transitions never enter a training batch."""

    def on_sample_end(self, *, env_runner: Any = None, metrics_logger: Any = None, samples: list, **kwargs: Any) -> None:
        kept = [episode for episode in samples if not holds_masked_step(episode.get_infos())]
        dropped = len(samples) - len(kept)
        samples[:] = kept  # the env runner returns this very list to the algorithm
        if metrics_logger is not None:
            metrics_logger.log_value(MASKED_EPISODES_METRIC, dropped, reduce="sum")
