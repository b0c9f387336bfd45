"""A BiLSTM for IMDB within an hour on 2 CPU cores.

Reviews are lowercased, split into words and punctuation, and cut to their last 400 tokens
(the end of a review carries its verdict); the vocabulary is the 30,000 most frequent training
tokens. 10% of the 25,000 training reviews (seeded) are held out for validation and model
selection; the 25,000 test reviews are scored once, with the best checkpoint. Model: 256-d
embeddings (dropout 0.5, word dropout 0.1), a 1-layer BiLSTM with 128 units per direction,
max pooling over time, dropout 0.5, a linear softmax. Adam 2e-3, global-norm clip 5, batch 64,
4 epochs. Reference: Dai & Le (2015) report 86.5 for a randomly initialised LSTM. Reproduction
record: experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "imdb"
  c.data.tokenizer, c.data.lowercase = "words", True
  c.data.max_length, c.data.truncate = 400, "tail"
  c.data.max_vocab, c.data.validation_holdout = 30000, 0.1
  c.data.bucket_chunk, c.data.pad_multiple = 50, 40
  c.model.kind, c.model.rnn.cell, c.model.rnn.bidirectional = "rnn", "lstm", True
  c.model.embed_size, c.model.rnn.hidden_size, c.model.mlp_hidden = 256, 128, ()
  c.model.pooling = "max"
  c.model.dropout_rate, c.model.word_dropout_rate = 0.5, 0.1
  c.train.batch_size, c.train.eval_batch_size, c.train.num_epochs = 64, 128, 4
  c.train.log_every, c.train.eval_every = 50, 176
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum = "adam", 2e-3, 0.0
  c.optimizer.clip_norm = 5.0
  return c
