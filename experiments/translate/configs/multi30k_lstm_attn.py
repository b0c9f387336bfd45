"""BiLSTM encoder + LSTM decoder with Luong et al. (2015) "general" (bilinear) attention and
input feeding, on Multi30k De→En.

Data as ``multi30k_gru_attn``. Model: embeddings 256; a bidirectional LSTM of 256 per direction
(a memory of 512 per source position); the decoder's initial ``h`` and ``c`` each
``tanh(W [h→_S; h←_1])``; an LSTM decoder of 512 reading ``[e_t; h̃_{t-1}]`` (input feeding);
``c_t = attend(s_t)`` with ``score = s_t · W k_s``; the softmax reads ``h̃_t = tanh(W_c [c_t;
s_t])``. Dropout 0.5 on the embeddings and on ``h̃_t``. Training as ``multi30k_gru_attn``
(Adam 1e-3, clipping at 1, label smoothing 0.1, learning rate halved when validation BLEU
stalls, 15 epochs, batches of 128). Luong et al. used 4 layers of 1,000 units on WMT; this is
the one-layer form at Multi30k's scale, about a third cheaper per step than the GRU model.

Reproduction record: see experiments/translate/README.md.
"""

from experiments.translate.configs import multi30k_gru_attn


def get_config():
  c = multi30k_gru_attn.get_config()
  c.model.rnn.cell, c.model.embed_size = "lstm", 256
  c.model.rnn.hidden_size, c.model.rnn.bidirectional, c.model.decoder_hidden_size = 256, True, 512
  c.model.bridge, c.model.attention, c.model.attention_size = "project", "bilinear", 0
  c.model.style, c.model.input_feeding = "luong", True
  return c
