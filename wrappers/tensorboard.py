"""``TensorBoardLogger``: live TensorBoard summaries of an rsigym env.

The wrapper lives with the tags it writes in :mod:`rsigym.analysis.tensorboard` (so that the
core's ``rsigym run`` can use it); this is its place among the other wrappers.

    env = TensorBoardLogger(gym.make("RSI-MLE-v0"))
"""
from rsigym.analysis.tensorboard import TensorBoardLogger

__all__ = ["TensorBoardLogger"]
