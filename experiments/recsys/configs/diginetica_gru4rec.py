"""GRU4Rec on DIGINETICA with SR-GNN's preprocessing and time split.

Data: items seen fewer than 5 times removed, sessions of one view removed; the last 7 days are
test (every prefix of a test session predicts its next item, over items seen in training); the
last 7 days of the training period pick the checkpoint. Model: item embedding 100, one GRU
layer of 100 units, dropout 0.25, output item vectors and biases; session-parallel blocks of 10
steps over 32 lanes; cross-entropy with mini-batch negatives; Adam 1e-3, clip 5; 30 epochs.

With ``data.name=diginetica_sample`` (the default: ../shared/data/diginetica_sample) this runs
on SR-GNN's 12,390-event sample, a smoke-scale set whose numbers are not comparable to the
published full-data ones. Published anchors (full data, SR-GNN's Table 2, Wu et al. 2019):
GRU4Rec 60.64 Recall@20 / 22.89 MRR@20 on YOOCHOOSE 1/64 (RSC15) and 29.45 / 8.33 on
DIGINETICA, where POP scores 0.89 / 0.20 and Item-KNN 35.75 / 11.57. Record:
experiments/recsys/README.md.
"""

from experiments.recsys.configs import base


def get_config():
  c = base.get_config()
  c.model.embed_size, c.model.rnn.hidden_size, c.model.dropout_rate = 100, 100, 0.25
  c.train.batch_size, c.train.block, c.train.loss, c.train.num_epochs = 32, 10, "in_batch", 30
  c.optimizer.name, c.optimizer.learning_rate = "adam", 1e-3
  return c
