"""``cnn_mlp`` with the paper's batch normalisation after each convolution (``model.norm=
"batch"``: the batch's statistics while training, the running ones at evaluation)."""

from experiments.vqa.configs import cnn_mlp


def get_config():
  c = cnn_mlp.get_config()
  c.model.norm = "batch"
  return c
