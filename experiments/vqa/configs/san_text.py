"""``san`` with English questions read by a 128-unit LSTM (Yang et al.'s LSTM question model)."""

from experiments.vqa.configs import san


def get_config():
  c = san.get_config()
  c.model.question = "text"
  return c
