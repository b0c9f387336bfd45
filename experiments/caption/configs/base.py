"""Every key an image-captioning config may set, with defaults: Show, Attend and Tell on the
generated scenes. Other configs start from ``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import registry
from seqjax.nn import caption as models
from seqjax.nn import vision
from seqjax.train import config as checks


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "scene_captions"  # scene_captions(_tiny) | flickr8k | {flickr8k,flickr30k,coco}_karpathy
  c.data.manual_dir = ""  # real datasets: the directory with their files (see the README)
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.max_length = 20  # words per caption (longer training captions are cut); +1 for <eos>
  c.data.min_count = 1  # words seen fewer times in training captions become <unk>
  c.data.train_images = 0  # > 0: train on the first this many training images only

  c.model = ml_collections.ConfigDict()
  c.model.kind = "attend_tell"  # attend_tell | show_tell
  c.model.image_as = "first_input"  # show_tell: first_input (the paper) | initial_state
  c.model.channels = (32, 32, 32)  # 3x3 stride-2 convolutions: 64x64 -> an 8x8 map
  c.model.norm = "none"  # none | layer | instance: after each convolution
  c.model.invert = True  # feed 1 - pixel: a white background is 0
  c.model.embed_size = 128
  c.model.attention_size = 0  # attend_tell: the additive score's size; 0: rnn.hidden_size
  c.model.gate = True  # attend_tell: the gating scalar beta
  c.model.attend_from = "previous"  # attend_tell: previous (h_{t-1}, the paper) | current (h_t)
  c.model.dropout_rate = 0.5  # on the softmax input
  c.model.rnn = common.rnn_section(hidden_size=256)  # the decoder (any cell; unidirectional)

  c.train = common.loop_section(num_epochs=5, keep_checkpoints=2, log_every=200,
                                checkpoint_every=1000)
  c.train.batch_size = 32  # (image, caption) pairs, global over every device
  c.train.eval_batch_size = 100  # images (decoding) / pairs (perplexity)
  c.train.attention_penalty = 1.0  # attend_tell: lambda of the doubly stochastic regulariser
  c.train.best_metric = "cider"  # cider (greedy, validation) | bleu4 | loss

  c.decode = ml_collections.ConfigDict()
  c.decode.beam_size = 3  # the final test decoding: greedy and this beam
  c.decode.alpha = 0.0  # beam search's length penalty exponent
  c.decode.figures = 4  # test images drawn with their caption and per-word attention

  c.parallel = common.parallel_section()
  c.optimizer = common.optimizer_section(name="adam", learning_rate=1e-3, clip_norm=5.0)
  return c


CHECKS = {
    "data.name": checks.one_of(registry.names(registry.CAPTIONS)),
    "data.max_length": checks.positive_int,
    "data.min_count": checks.positive_int,
    "data.train_images": checks.nonnegative_int,
    "model.kind": checks.one_of(models.KINDS),
    "model.image_as": checks.one_of(models.IMAGE_AS),
    "model.attend_from": checks.one_of(models.ATTEND_FROM),
    "model.channels": checks.positive_ints,
    "model.norm": checks.one_of(vision.NORMS),
    "model.embed_size": checks.positive_int,
    "model.attention_size": checks.nonnegative_int,
    "model.dropout_rate": checks.rate,
    "train.attention_penalty": checks.nonnegative,
    "train.best_metric": checks.one_of(("cider", "bleu4", "loss")),
    "decode.beam_size": checks.positive_int,
    "decode.alpha": checks.nonnegative,
    "decode.figures": checks.nonnegative_int,
}
