"""Training core shared by every experiment: optimizers, state, checkpoints, the loop."""

from seqjax.train.checkpoint import Checkpointer
from seqjax.train.loop import LoopOptions, fit
from seqjax.train.optim import make_optimizer
from seqjax.train.state import TrainState

__all__ = ["Checkpointer", "LoopOptions", "TrainState", "fit", "make_optimizer"]
