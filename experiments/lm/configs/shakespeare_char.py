"""The quickstart: a character-level LSTM on Tiny Shakespeare (char-rnn), then a sample.

Measured: validation 1.439 nats/char (2.08 bpc), test 1.552, 570 s wall on 2 CPU cores (Intel
Xeon, jax 0.10.2, float32) including data preparation and the sample, commit d032c6f.

    python -m experiments.lm.main --config=experiments/lm/configs/shakespeare_char.py \
        --workdir=/tmp/shakespeare [--config.data.manual_dir=../shared/data/tinyshakespeare]
"""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()
  c.data.name, c.data.tokenizer, c.data.unk, c.data.level = (
      "tiny_shakespeare", "characters", "", "char")
  c.model.rnn.hidden_size, c.model.rnn.num_layers, c.model.embed_size = 256, 2, 64
  c.model.dropout_rate = c.model.rnn.dropout_rate = 0.1
  c.model.rnn.init_scale = 0.0
  c.model.rnn.cell_options = {"forget_bias": 1.0}
  c.train.batch_size, c.train.bptt, c.train.num_epochs = 32, 100, 8
  c.train.loss_reduction, c.train.eval_batch_size = "mean", 16
  c.train.log_every, c.train.eval_every = 50, 0
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.schedule = "adam", 3e-3, "warmup_cosine"
  c.optimizer.warmup_steps, c.optimizer.clip_norm = 100, 5.0
  c.sample.length, c.sample.prompt, c.sample.temperature = 500, "ROMEO:", 0.8
  return c
