"""BiGRU encoder + GRU decoder with additive attention on Multi30k De→En (Bahdanau et al. 2015,
as in bentrevett/pytorch-seq2seq notebook 3, "Neural Machine Translation by Jointly Learning
to Align and Translate").

Data: lowercased word tokens (runs of word characters and single punctuation marks) with the
training tokens seen at least twice (7,882 German, 5,898 English types with the specials),
``<eos>`` after every source sentence, batches of 128 pairs bucketed by length. Model as the
notebook: embeddings 256, a bidirectional GRU of 512 per direction, the decoder's initial state
``tanh(W [h→_S; h←_1])``, additive attention of size 512 with the previous decoder state, a GRU
decoder of 512 reading ``[e_t; c_t]`` and a softmax over the deep output ``[s_t; c_t; e_t]``;
dropout 0.5 on both embeddings and the softmax input. Adam 1e-3, global-norm clipping at 1.

Differences from the notebook: 15 epochs instead of 10, label smoothing 0.1, the learning rate
halved when validation BLEU stalls, the best checkpoint chosen by validation greedy BLEU (the
notebook chooses by validation loss), each part's default initialisation (the notebook draws
every weight from N(0, 0.01²)), a reset-after GRU (PyTorch's) and our tokenizer instead of
spaCy's.

Reproduction record: see experiments/translate/README.md.
"""

from experiments.translate.configs import base


def get_config():
  c = base.get_config()
  c.data.source_lang, c.data.target_lang = "de", "en"
  c.data.tokenizer, c.data.lowercase, c.data.min_freq = "word", True, 2
  c.model.rnn.cell, c.model.embed_size = "gru", 256
  c.model.rnn.hidden_size, c.model.rnn.bidirectional, c.model.decoder_hidden_size = 512, True, 512
  c.model.bridge, c.model.attention, c.model.attention_size = "project", "additive", 512
  c.model.style, c.model.dropout_rate = "bahdanau", 0.5
  c.train.batch_size, c.train.num_epochs = 128, 15
  c.train.label_smoothing = 0.1
  c.train.plateau_factor, c.train.plateau_patience = 0.5, 1
  c.train.best_metric = "bleu"
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.clip_norm = "adam", 1e-3, 1.0
  c.optimizer.schedule = "plateau"
  c.decode.beam_size, c.decode.alpha = 5, 0.0
  return c
