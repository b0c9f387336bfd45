"""UPOS tagging of UD English-EWT with a word + character BiLSTM (Plank et al. 2016; Ling et
al. 2015).

Data: UD English-EWT r2.16 (12,544 / 2,001 / 2,077 sentences; 204,577 / 25,147 / 25,094
words), gold tokenization, the 17 universal tags; multiword-token ranges and empty nodes are
skipped, as the UD evaluation does. Words are lowercased for the word table (16,656 training
forms) and keep their case in the character encoder (the first 20 characters of a word).

Model: word embedding 100 (N(0, 0.1^2)), word dropout 0.25 to ``<unk>`` (so the ``<unk>`` row is
trained and unknown words lean on their characters); a character BiLSTM (embedding 50, 50 units
per direction, final states joined: 100 features per word); dropout 0.33 on the 200-d word
representation; a 2-layer BiLSTM with 200 units per direction (dropout 0.33 between layers and
on its output); a linear layer to the 17 tags. Training: Adam 2e-3, global-norm clip 5,
batches of 32 sentences bucketed by length, 15 epochs (392 steps each), the best checkpoint by
validation accuracy scored on test.

Anchor: BiLSTM taggers on UD English report ~95% UPOS (Plank et al. 2016, word + character
BiLSTM on UD 1.2 English; Stanza's BiLSTM tagger on EWT, Qi et al. 2020). Results and commands:
experiments/tagging/README.md.
"""

from experiments.tagging.configs import base


def get_config():
  c = base.get_config()
  c.model.embed_size, c.model.rnn.hidden_size, c.model.rnn.num_layers = 100, 200, 2
  c.model.char_encoder, c.model.char_embed_size, c.model.char_hidden_size = True, 50, 50
  c.model.dropout_rate, c.model.rnn.dropout_rate, c.model.word_dropout_rate = 0.33, 0.33, 0.25
  c.train.batch_size, c.train.num_epochs, c.train.log_every = 32, 15, 100
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.clip_norm = "adam", 2e-3, 5.0
  return c
