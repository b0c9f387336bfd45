"""Flax linen modules built on the pure cells (floor 2)."""

from seqjax.nn.classifier import BagOfWords, SequenceClassifier, TextCNN
from seqjax.nn.lm import RNNLM
from seqjax.nn.rnn import DeepRNN

__all__ = ["BagOfWords", "DeepRNN", "RNNLM", "SequenceClassifier", "TextCNN"]
