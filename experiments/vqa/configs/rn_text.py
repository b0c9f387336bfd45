"""``rn`` with English questions read by a 128-unit LSTM (its output at the last word is the
question vector, as the paper's CLEVR setup)."""

from experiments.vqa.configs import rn


def get_config():
  c = rn.get_config()
  c.model.question = "text"
  return c
