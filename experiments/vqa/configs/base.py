"""Every key a VQA (Sort-of-CLEVR) config may set, with defaults: the Relation Network with the
paper's 11-bit questions. Other configs start from ``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import registry
from seqjax.nn import vqa as models
from seqjax.train import config as checks


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "sort_of_clevr"  # sort_of_clevr | sort_of_clevr_tiny (generated, nothing read)
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.train_images = 0  # > 0: train on the first this many training images only

  c.model = ml_collections.ConfigDict()
  c.model.kind = "rn"  # rn | cnn_mlp | san
  c.model.question = "vector"  # vector (the paper's 11 bits) | text (tokens through model.rnn)
  c.model.channels = (24, 24, 24, 24)  # the convolutions (3x3, stride 2)
  c.model.norm = "none"  # none | instance | layer | batch (the paper's): after each convolution
  c.model.invert = True  # feed 1 - pixel: the white background is 0
  c.model.g_sizes = (256, 256, 256, 256)  # rn: g_theta
  c.model.pair_reduce = "mean"  # rn: mean (f's inputs O(1)) | sum (the paper; same function)
  c.model.mlp_size = 256  # cnn_mlp: the layer on the flattened map and the question
  c.model.san_size = 256  # san: region, query and attention size
  c.model.san_layers = 2  # san: attention layers
  c.model.f_sizes = (256, 256)  # the answer head of every kind (f_phi)
  c.model.dropout_rate = 0.5  # before the answer layer
  c.model.embed_size = 32  # text questions: word vectors
  c.model.rnn = common.rnn_section(hidden_size=128)  # text questions: the question encoder

  c.train = common.loop_section(num_epochs=8, keep_checkpoints=2, log_every=200,
                                checkpoint_every=1000)
  c.train.batch_size = 16  # images, global over every device
  c.train.questions_per_image = 4  # each image of a batch with this many of its questions
  c.train.eval_batch_size = 50  # images, with all their 20 questions

  c.parallel = common.parallel_section()
  c.optimizer = common.optimizer_section(name="adam", learning_rate=1e-3)  # the paper: 2.5e-4

  c.report = ml_collections.ConfigDict()
  c.report.images = 8  # test images in predictions.png (and attention.png for the SAN)
  c.report.plot = True
  return c


CHECKS = {
    "data.name": checks.one_of(registry.names(registry.VQA)),
    "data.train_images": checks.nonnegative_int,
    "train.questions_per_image": checks.one_of((1, 2, 4, 5, 10, 20)),
    "model.kind": checks.one_of(models.KINDS),
    "model.question": checks.one_of(models.QUESTION_FORMS),
    "model.norm": checks.one_of(models.NORMS),
    "model.pair_reduce": checks.one_of(models.REDUCES),
    "model.channels": checks.positive_ints, "model.g_sizes": checks.positive_ints,
    "model.f_sizes": checks.sizes,
    "model.mlp_size": checks.positive_int, "model.san_size": checks.positive_int,
    "model.san_layers": checks.positive_int, "model.embed_size": checks.positive_int,
    "model.dropout_rate": checks.rate,
    "report.images": checks.nonnegative_int,
}
