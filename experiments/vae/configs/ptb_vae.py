"""Bowman et al. (2016) Table 2, standard setting: the sentence VAE on PTB (paper: test NLL
101 per sentence with KL 2, PPL 119). The RNN LM of ``ptb_rnnlm`` as the decoder, a 256-unit
LSTM encoder, a 32-d code setting the decoder's initial state; KL cost annealing (sigmoid over
2 epochs) and word dropout (keep rate 0.75) as in the paper.

Measured: test NLL 104.4 / PPL 117.10 (importance-sampled, 10 samples; ELBO bound 104.5 /
117.88), KL 0.81 nats, 2 active units; validation PPL 123.61 (ELBO); 4,254 s on one core of a
2-core Intel Xeon, shared with tests for part of it.

    python -m experiments.vae.main --config=experiments/vae/configs/ptb_vae.py \
        --workdir=/tmp/ptb_vae --config.data.manual_dir=../shared/data/ptb
"""

from experiments.vae.configs import ptb_rnnlm


def get_config():
  c = ptb_rnnlm.get_config()
  c.model.latent_size, c.model.word_keep = 32, 0.75
  c.kl.anneal, c.kl.anneal_steps = "sigmoid", 2628
  c.eval.is_samples, c.eval.num_homotopies, c.eval.homotopy_steps = 10, 3, 5
  c.sample.temperature = 0.0  # greedy decoding of z ~ N(0, I), as the paper's samples
  return c
