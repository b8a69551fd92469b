"""rsigym: recursive self-improvement of ML agents as a Gymnasium environment.

``import rsigym`` registers the environment ids (``RSI-MLE-v0`` and friends) with Gymnasium.
"""
from rsigym.envs import registration as _registration  # noqa: F401  (registers the ids)

__version__ = "0.1.0"
