"""The no-attention baseline (Sutskever et al. 2014) on Multi30k De→En: a 2-layer LSTM reads
the reversed source, and the decoder starts from its final state.

Data as ``multi30k_gru_attn``. Model as bentrevett/pytorch-seq2seq notebook 1 ("Sequence to
Sequence Learning with Neural Networks"): embeddings 256, an encoder of 2 LSTM layers of 512
(unidirectional), the decoder's 2 layers starting from the encoder's final ``(h, c)`` layer by
layer, no attention, the softmax reading the top decoder layer; dropout 0.5 on the embeddings,
between the encoder layers and on the softmax input. Sutskever et al.'s source reversal is on
(the notebook leaves it off). Training exactly as ``multi30k_gru_attn`` (Adam 1e-3, clipping at
1, label smoothing 0.1, learning rate halved when validation BLEU stalls, batches of 128), so
the two differ only in the model.

Reproduction record: see experiments/translate/README.md.
"""

from experiments.translate.configs import multi30k_gru_attn


def get_config():
  c = multi30k_gru_attn.get_config()
  c.model.rnn.cell, c.model.embed_size = "lstm", 256
  c.model.rnn.hidden_size, c.model.rnn.bidirectional, c.model.decoder_hidden_size = 512, False, 512
  c.model.rnn.num_layers, c.model.decoder_layers = 2, 2
  c.model.bridge, c.model.attention, c.model.reverse_source = "last", "none", True
  c.model.attention_size = 0
  c.model.dropout_rate, c.model.rnn.dropout_rate = 0.5, 0.5
  return c
