"""``ptb_rnn`` with the IRNN (Le et al. 2015): ReLU units, recurrent matrix initialised to the
identity, zero biases, inputs N(0, 0.001²), so no U(±0.1) override and no tied softmax (the
embeddings would start N(0, 1)); half the learning rate. Measured numbers go in
experiments/lm/README.md once a run has finished.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_irnn.py \
        --workdir=/tmp/ptb_irnn --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import ptb_rnn


def get_config():
  c = ptb_rnn.get_config()
  c.model.rnn.cell_options = {"activation": "relu", "identity_init": True}
  c.model.rnn.init_scale, c.model.tie_weights = 0.0, False
  c.optimizer.learning_rate = 1e-3
  return c
