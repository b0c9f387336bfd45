"""Show and Tell (Vinyals et al. 2015) on the generated scenes: the same CNN and LSTM as
``scenes_attend_tell``, the whole 8x8 map projected to one image vector fed as the LSTM's first
input. Measured: see experiments/caption/README.md."""

from experiments.caption.configs import base


def get_config():
  c = base.get_config()
  c.model.kind = "show_tell"
  c.model.image_as = "first_input"
  return c
