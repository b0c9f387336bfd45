"""``rn_bn.py`` on 49,000 generated training images (``sort_of_clevr_49k``: the paper's
generator, five times its training images; the validation and test images are
``sort_of_clevr``'s): the run that passed the paper's 94% on both kinds of question on 2 CPU
cores (test 97.4%: relational 95.0%, non-relational 99.9%, best checkpoint at step 156,000;
experiments/vqa/README.md). It gives the colour-blind answers until about step 67,000, then
leaves that plateau; about 0.1 s a step on 2 cores of an AMD EPYC, 4 h 20 min for 157,741
steps. The recorded run was ``rn_bn.py`` with ``--config.data.name=sort_of_clevr_49k
--config.train.num_steps=400000 --config.train.num_epochs=1000``, stopped by SIGTERM; the run
length is the only difference, and it does not change a step."""

from experiments.vqa.configs import rn_bn


def get_config():
  c = rn_bn.get_config()
  c.data.name = "sort_of_clevr_49k"
  c.train.num_steps = 160000
  c.train.num_epochs = 11  # 160,000 steps of 64 questions are 10.4 epochs of 980,000
  return c
