"""Gymnasium wrappers for rsigym environments."""
from rsigym.wrappers.carry_over import CarryOver
from rsigym.wrappers.tensorboard import TensorBoardLogger

__all__ = ["CarryOver", "TensorBoardLogger"]
