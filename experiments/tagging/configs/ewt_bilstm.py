"""The word-only ablation of ``ewt_bilstm_char``: the same 2-layer BiLSTM tagger without the
character encoder (an unknown word is only its ``<unk>`` vector and its context)."""

from experiments.tagging.configs import ewt_bilstm_char


def get_config():
  c = ewt_bilstm_char.get_config()
  c.model.char_encoder = False
  return c
