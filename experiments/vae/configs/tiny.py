"""A seconds-long config for tests and smoke runs: a 16-unit LSTM VAE on PTB-format text."""

from experiments.vae.configs import base


def get_config():
  c = base.get_config()
  c.model.embed_size, c.model.latent_size = 16, 4
  c.model.encoder.hidden_size = c.model.decoder.hidden_size = 16
  c.model.word_keep, c.model.dropout_rate = 0.75, 0.1
  c.kl.anneal, c.kl.anneal_steps = "linear", 10
  c.train.batch_size, c.train.num_steps, c.train.eval_batch_size = 16, 20, 16
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 5, 10, 10
  c.optimizer.learning_rate = 1e-2
  c.eval.is_samples, c.eval.impute_sentences, c.eval.impute_missing = 4, 8, 2
  c.eval.beam_size, c.eval.num_homotopies, c.eval.homotopy_steps = 3, 1, 3
  c.eval.max_decode_length = 12
  c.sample.num = 3
  # One device: the tests run with 8 fake CPU devices sharing 2 cores (see experiments/lm tiny).
  c.parallel.data = 1
  return c
