"""``rn_bn`` (the Relation Network recipe that leaves the colour-blind plateau: batch
normalisation, g of 2 x 128, 64 images x 1 question) with English questions read by a 128-unit
LSTM, its output at the last word being the question vector (the paper's CLEVR setup).

Measured: see experiments/vqa/README.md."""

from experiments.vqa.configs import rn_bn


def get_config():
  c = rn_bn.get_config()
  c.model.question = "text"
  return c
