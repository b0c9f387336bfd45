"""Kim (2014) CNN-rand on GLUE SST-2: random 300-d embeddings, filter widths 3/4/5 with 100
maps each, ReLU, max-over-time pooling, dropout 0.5, softmax. Kim trains with Adadelta and an
l2-norm cap of 3 on the softmax weights; seqjax has no Adadelta, so this uses Adam (1e-3) and
no norm cap, batch 50, 5 epochs. Kim's CNN-rand SST-2 test accuracy: 82.7 (trained on phrases,
tested on the 1,821 sentences). Reproduction record: experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "sst2"
  c.data.tokenizer, c.data.max_length = "whitespace", 60
  c.model.kind, c.model.embed_size = "cnn", 300
  c.model.filter_widths, c.model.num_filters, c.model.dropout_rate = (3, 4, 5), 100, 0.5
  c.train.batch_size, c.train.num_epochs, c.train.log_every = 50, 5, 200
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum = "adam", 1e-3, 0.0
  return c
