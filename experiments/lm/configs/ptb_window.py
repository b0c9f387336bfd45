"""The fixed-window neural LM of Bengio et al. (2003) on PTB: the previous 4 words (a 5-gram
context) x 256-dim embeddings -> tanh 512 -> softmax over the 10k words, read from the same
35-token windows as the RNN LMs (the carry is the last 4 words, so contexts cross window and
sentence boundaries as the RNNs' state does). As ``ptb_rnn``: the softmax shares the embedding
table (the hidden layer is projected to 256 and scored against every word's embedding; Press
& Wolf 2017), dropout 0.3 on the embeddings and the hidden layer, every weight U(±0.1), Adam
2e-3 with the gradient norm clipped at 1, batch 32 x 35, halved when validation stalls.
Mikolov et al. (2011) report a feed-forward NN LM at test perplexity 140.2 on this split; KN-5
gives 141.2 (``experiments/lm/ngram.py``). Measured numbers are in experiments/lm/README.md.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_window.py \
        --workdir=/tmp/ptb_window --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()
  c.data.name, c.data.level = "ptb_word", "word"
  c.model.kind = "window"
  c.model.embed_size, c.model.tie_weights = 256, True
  c.model.window.context, c.model.window.hidden_size, c.model.window.direct = 4, 512, False
  c.model.dropout_rate = 0.3
  c.model.rnn.init_scale = 0.1  # every weight U(±0.1) (the window LM reads it too)
  c.train.batch_size, c.train.bptt, c.train.num_epochs = 32, 35, 10
  c.train.loss_reduction = "mean"
  c.train.eval_batch_size = 10
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.clip_norm = "adam", 2e-3, 1.0
  c.optimizer.schedule = "plateau"
  c.train.plateau_factor, c.train.plateau_patience = 0.5, 1
  return c
