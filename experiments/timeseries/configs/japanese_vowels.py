"""JapaneseVowels (UEA archive): 9 speakers from 12 LPC cepstra, 270 train / 370 test cases
of 7-29 frames. LSTM over the real frames, its last output classifies. Record:
experiments/timeseries/README.md.
"""

from experiments.timeseries.configs import base


def get_config():
  c = base.classify_config()
  c.data.name = "japanese_vowels"
  c.model.rnn.hidden_size, c.model.rnn.bidirectional, c.model.pool = 64, True, "last"
  c.train.num_epochs, c.train.eval_every = 60, 50
  return c
