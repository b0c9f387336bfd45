"""Flax's examples/sst2 configuration on GLUE SST-2.

Data: whitespace tokens of the (already lowercased, PTB-tokenized) GLUE text; the vocabulary
holds the training tokens seen at least 3 times (Flax's build_vocabulary.py), ``<pad>``=0,
``<unk>``=1, ``<s>``, ``</s>``. Model: embedding 300 (N(0, 0.1^2) init), word dropout 0.1 (to ``<unk>``), dropout 0.5 on the
embeddings; a 1-layer BiLSTM with 256 units per direction; keys-only additive attention pooling
(hidden 256) with dropout 0.5 before and after; an MLP head (256 tanh, dropout 0.5, no output
bias). Sentences get ``<s>``/``</s>`` and are cut at 60 tokens; batches of 64 bucketed by
length; SGD with momentum 0.9, learning rate 0.1, weight decay 3e-6; 10 epochs (1,052 steps
each). Selection: the best checkpoint by dev accuracy is kept, and the last epoch's dev
accuracy is reported beside it (Flax reports the last epoch).

The LSTM starts as Flax's ``OptimizedLSTMCell``: LeCun-normal input kernel, per-gate
orthogonal recurrent kernel, zero bias, no forget-gate offset. Differences from Flax's code,
none of them a hyperparameter: two softmax logits instead of one sigmoid logit (the same model
family); weight decay as coupled L2 added to the gradient before momentum (Flax's
``chain(sgd, add_decayed_weights)`` adds ``+3e-6 * w`` after the SGD update, i.e. it grows the
weights); shuffling and bucketing with grain instead of tf.data.

Reproduction record: see experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "sst2"
  c.data.tokenizer, c.data.add_bos_eos, c.data.max_length = "whitespace", True, 60
  c.data.min_freq = 3
  c.data.bucket_chunk, c.data.pad_multiple = 100, 8
  c.model.kind, c.model.rnn.cell, c.model.rnn.bidirectional = "rnn", "lstm", True
  c.model.embed_size, c.model.rnn.hidden_size, c.model.mlp_hidden = 300, 256, (256,)
  c.model.rnn.cell_options.input_init = "lecun_normal"
  c.model.rnn.cell_options.recurrent_init = "orthogonal"
  c.model.rnn.cell_options.bias_init = "zeros"
  c.model.rnn.cell_options.forget_bias = 0.0
  c.model.pooling, c.model.activation, c.model.output_bias = "attention", "tanh", False
  c.model.dropout_rate, c.model.word_dropout_rate = 0.5, 0.1
  c.train.batch_size, c.train.num_epochs = 64, 10
  c.train.log_every = 200
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum = "sgd", 0.1, 0.9
  c.optimizer.weight_decay, c.optimizer.clip_norm = 3e-6, 0.0
  return c
