"""Show, Attend and Tell (Xu et al. 2015) on the generated scenes: a 3-layer CNN (32 channels,
an 8x8 map of 64 regions), soft attention with the gating scalar and the doubly stochastic
regulariser (lambda 1), an LSTM of 256. Measured: see experiments/caption/README.md."""

from experiments.caption.configs import base


def get_config():
  c = base.get_config()
  c.model.kind = "attend_tell"
  return c
