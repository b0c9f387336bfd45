"""A vanilla (Elman, tanh) RNN LM on PTB, Mikolov-style: one layer of 256 units, truncated BPTT
over 35-token windows with the state carried across windows, SGD with gradient clipping and
the learning rate halved when validation stalls. Mikolov et al. (2011) report an RNN LM at test
perplexity 124.7 on this split (KN-5: 141.2). ``ptb_irnn`` is the same with the IRNN
(identity-initialised ReLU, Le et al. 2015). Measured numbers go in experiments/lm/README.md
once a run has finished.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_rnn.py \
        --workdir=/tmp/ptb_rnn --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()
  c.data.name, c.data.level = "ptb_word", "word"
  c.model.rnn.cell, c.model.rnn.cell_options = "rnn", {"activation": "tanh"}
  c.model.rnn.hidden_size, c.model.rnn.num_layers, c.model.rnn.init_scale = 256, 1, 0.0
  c.model.dropout_rate = 0.25
  c.train.batch_size, c.train.bptt, c.train.num_epochs = 32, 35, 12
  c.train.eval_batch_size = 10
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.clip_norm = "sgd", 1.0, 5.0
  c.optimizer.schedule = "plateau"
  c.train.plateau_factor, c.train.plateau_patience = 0.5, 1
  return c
