"""Zaremba et al.'s medium PTB model (2x650 LSTM) with the variational regularisers of Gal &
Ghahramani (2016): dropout masks shared across the steps of a window on the embedding output,
between the layers and on the softmax input (p = 0.5), variational dropout on the recurrent
connections (p = 0.5) and word-type embedding dropout (p = 0.1); Zaremba's medium schedule
(SGD, learning rate 1, decayed by 1/1.2 per epoch after epoch 6, 39 epochs, clipping at 5),
U(±0.05) initialisation. Gal & Ghahramani train longer with a slower decay; the measured
numbers go in experiments/lm/README.md once a run has finished (a GPU run; 39 epochs of the
medium model take about a day on 2 CPU cores).

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_medium_variational.py \
        --workdir=/tmp/ptb_medium_variational --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import ptb_medium


def get_config():
  c = ptb_medium.get_config()
  c.model.dropout_rate = c.model.rnn.dropout_rate = 0.5
  c.model.rnn.locked_dropout = True
  c.model.rnn.state_dropout, c.model.embed_dropout = 0.5, 0.1
  return c
