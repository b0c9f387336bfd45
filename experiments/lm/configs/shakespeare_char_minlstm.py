"""``shakespeare_char`` with the LSTM replaced by minLSTM (Feng et al. 2024), trained with a
parallel (associative) scan over each 100-character window: the same 2x256 shape, dropout,
optimizer and schedule, so the two differ only in the cell. A linear-recurrence LM that trains
in minutes on a CPU; measured numbers are in experiments/lm/README.md.

    python -m experiments.lm.main --config=experiments/lm/configs/shakespeare_char_minlstm.py \
        --workdir=/tmp/shakespeare_minlstm [--config.data.manual_dir=../shared/data/tinyshakespeare]
"""

from experiments.lm.configs import shakespeare_char


def get_config():
  c = shakespeare_char.get_config()
  c.model.rnn.cell, c.model.rnn.backend = "minlstm", "associative"
  c.model.rnn.cell_options = {}
  return c
