"""``cnn_mlp`` with English questions read by a 128-unit LSTM."""

from experiments.vqa.configs import cnn_mlp


def get_config():
  c = cnn_mlp.get_config()
  c.model.question = "text"
  return c
