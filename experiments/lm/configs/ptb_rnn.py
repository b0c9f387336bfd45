"""A vanilla (Elman, tanh) RNN LM on PTB: one layer of 256 units, truncated BPTT over 35-token
windows with the state carried across windows (the stream the LSTMs read), the gradient norm
clipped at 1, the learning rate halved when validation stalls. Mikolov et al. (2011) report an
RNN LM at test perplexity 124.7 on this split (KN-5: 141.2). Two departures from Mikolov's
recipe (per-token SGD, hidden 200-300, no dropout), chosen to fit in an hour on 2 CPU cores:
Adam on minibatches of 32 x 35 tokens, and the softmax weights tied to the 256-d embeddings
(Press & Wolf 2017), with dropout 0.3 on both sides of the recurrence; every weight starts
U(±0.1) as in Zaremba et al. (with N(0, 1) embeddings tied to the softmax the first logits are
huge). ``ptb_irnn`` is the same with the IRNN (identity-initialised ReLU, Le et al. 2015).
Measured numbers are in experiments/lm/README.md.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_rnn.py \
        --workdir=/tmp/ptb_rnn --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()
  c.data.name, c.data.level = "ptb_word", "word"
  c.model.rnn.cell, c.model.rnn.cell_options = "rnn", {"activation": "tanh"}
  c.model.rnn.hidden_size, c.model.rnn.num_layers, c.model.rnn.init_scale = 256, 1, 0.1
  c.model.embed_size, c.model.tie_weights = 256, True
  c.model.dropout_rate = 0.3
  c.train.batch_size, c.train.bptt, c.train.num_epochs = 32, 35, 10
  c.train.loss_reduction = "mean"
  c.train.eval_batch_size = 10
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.clip_norm = "adam", 2e-3, 1.0
  c.optimizer.schedule = "plateau"
  c.train.plateau_factor, c.train.plateau_patience = 0.5, 1
  return c
