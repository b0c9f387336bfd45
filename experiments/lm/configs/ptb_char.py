"""Character-level PTB (Mikolov's split): a 1x512 LSTM with Adam, 6 epochs (under an hour on 2 cores).

Measured: test 1.459 bpc, valid 1.502 (6 epochs, 15,000 tok/s), 2,365 s wall on 2 CPU cores (Intel
Xeon, jax 0.10.2, float32; ~5 min of it shared with a test run), commit b681d2e. The published
unregularised LSTM reaches 1.36 test bpc with far longer training.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_char.py \
        --workdir=/tmp/ptb_char --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()
  c.data.name, c.data.tokenizer, c.data.unk, c.data.level = (
      "ptb_char", "whitespace_eos", "", "char")
  c.model.rnn.hidden_size, c.model.rnn.num_layers, c.model.embed_size = 512, 1, 64
  c.model.dropout_rate, c.model.rnn.dropout_rate, c.model.rnn.init_scale = 0.0, 0.0, 0.0
  c.model.rnn.cell_options = {"forget_bias": 1.0}
  c.train.batch_size, c.train.bptt, c.train.num_epochs = 64, 100, 6
  c.train.loss_reduction, c.train.eval_batch_size = "mean", 32
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 100, 250, 250
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.schedule = "adam", 2e-3, "warmup_cosine"
  c.optimizer.warmup_steps, c.optimizer.clip_norm = 100, 5.0
  return c
