"""Bowman et al. (2016) Table 2, standard setting: the sentence-level RNN LM baseline on PTB
(paper: test NLL 100 per sentence, PPL 116). A 256-unit LSTM with tied 256-d embeddings,
dropout 0.3, Adam; 5 epochs (sized for an hour on one CPU core; see the README).

Measured: test NLL 102.9 nats per sentence, PPL 109.35 (validation 114.73), best checkpoint
at the last step (6,570); 2,705 s on one core of a 2-core Intel Xeon (jax 0.10.2, float32).

    python -m experiments.vae.main --config=experiments/vae/configs/ptb_rnnlm.py \
        --workdir=/tmp/ptb_rnnlm --config.data.manual_dir=../shared/data/ptb
"""

from experiments.vae.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "ptb_word"
  c.model.latent_size = 0
  c.model.embed_size = c.model.decoder.hidden_size = c.model.encoder.hidden_size = 256
  c.model.tie_weights, c.model.dropout_rate, c.model.word_keep = True, 0.3, 1.0
  c.kl.anneal = "none"
  c.train.batch_size, c.train.num_epochs, c.train.eval_every = 32, 5, 657
  c.train.log_every, c.train.checkpoint_every = 200, 657
  c.train.plateau_factor, c.train.plateau_patience = 0.5, 1
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.clip_norm = "adam", 2e-3, 0.0
  c.eval.impute_sentences, c.eval.impute_missing, c.eval.beam_size = 200, 3, 10
  c.sample.num, c.sample.temperature = 10, 1.0
  return c
