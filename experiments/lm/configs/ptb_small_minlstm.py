"""``ptb_small`` with the LSTM replaced by minLSTM (Feng et al. 2024), trained with a parallel
(associative) scan over each 35-step window: the same 2x200 shape, dropout, schedule and
initialisation, so the two differ only in the cell. A linear-recurrence baseline for the LM;
measured numbers go in experiments/lm/README.md once a run has finished.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_small_minlstm.py \
        --workdir=/tmp/ptb_small_minlstm --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import ptb_small


def get_config():
  c = ptb_small.get_config()
  c.model.rnn.cell, c.model.rnn.backend = "minlstm", "associative"
  c.model.rnn.cell_options = {}
  return c
