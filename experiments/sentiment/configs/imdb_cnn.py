"""Kim (2014) CNN-rand (``sst2_cnn``'s model) on ``imdb_bilstm``'s data and splits. 3 epochs.
Reproduction record: experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import imdb_bilstm, sst2_cnn


def get_config():
  c = imdb_bilstm.get_config()
  cnn = sst2_cnn.get_config()
  c.model = cnn.model
  c.model.embed_size = 256
  c.data.bucket_chunk, c.data.pad_multiple = 50, 40
  c.train.num_epochs = 3
  c.optimizer.learning_rate, c.optimizer.clip_norm = 1e-3, 0.0
  return c
