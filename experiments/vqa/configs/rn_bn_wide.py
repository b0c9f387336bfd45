"""``rn_bn`` with the paper's Sort-of-CLEVR sizes: the encoder's four convolutions have 32, 64,
128 and 256 kernels (batch normalisation after each) and g is 4 x 256 units. Each of the 25
cells that become objects then carries 256 features, not 24: room for two objects that share
a cell, which is where the closest-object questions are lost (experiments/vqa/README.md,
``margins``).

Measured: see experiments/vqa/README.md."""

from experiments.vqa.configs import rn_bn


def get_config():
  c = rn_bn.get_config()
  c.model.channels = (32, 64, 128, 256)
  c.model.g_sizes = (256, 256, 256, 256)
  return c
