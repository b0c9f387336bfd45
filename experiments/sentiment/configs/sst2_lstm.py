"""``sst2_bilstm`` with a unidirectional LSTM read to each sentence's true last token (``last``
pooling): the plain many-to-one LSTM baseline. Reproduction record: experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import sst2_bilstm


def get_config():
  c = sst2_bilstm.get_config()
  c.model.rnn.bidirectional = False
  c.model.pooling = "last"
  return c
