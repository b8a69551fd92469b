"""rsigym: recursive self-improvement of ML agents as a Gymnasium environment.

``import rsigym`` registers the environment ids (``RSI-MLE-v0`` and friends) with Gymnasium.
"""
from rsigym import env_ids as _env_ids  # noqa: F401  (registers the ids)

__version__ = "0.1.0"
