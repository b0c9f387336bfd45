"""Relation Network with the paper's 11-bit questions (Santoro et al. 2017, Sort-of-CLEVR),
sized for CPUs: g has 4 layers of 128 units (the paper: 256; ``--config.model.g_sizes=256,256,
256,256`` is 3x slower per step). f is the paper's (256, 256 with 50% dropout). Inverted pixels
(a white background is 0) and Adam at 1e-3 instead of the paper's batch normalisation and
2.5e-4: see the pilots in experiments/vqa/README.md.

Measured: see experiments/vqa/README.md."""

from experiments.vqa.configs import base


def get_config():
  c = base.get_config()
  c.model.kind = "rn"
  c.model.g_sizes = (128, 128, 128, 128)
  c.train.num_epochs = 4
  c.train.eval_every = 1000
  return c
