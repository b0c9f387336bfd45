"""The paper's CNN+MLP baseline: the flattened 5x5x24 feature map joined with the 11-bit
question, a 256-unit layer, then the same f as the RN."""

from experiments.vqa.configs import base


def get_config():
  c = base.get_config()
  c.model.kind = "cnn_mlp"
  c.train.num_epochs = 12
  c.train.eval_every = 1000
  return c
