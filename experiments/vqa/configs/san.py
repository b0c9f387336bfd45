"""Stacked attention (Yang et al. 2016) on the CNN's 25 regions: two attention layers of 256
units queried by the 11-bit question, then the same f as the RN."""

from experiments.vqa.configs import base


def get_config():
  c = base.get_config()
  c.model.kind = "san"
  c.train.num_epochs = 8
  c.train.eval_every = 1000
  return c
