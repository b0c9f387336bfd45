"""Flax linen modules built on the pure cells (floor 2)."""

from seqjax.nn.sentiment import BagOfWords, SequenceClassifier, TextCNN
from seqjax.nn.lm import RNNLM
from seqjax.nn.readout import RNNReadout
from seqjax.nn.rnn import DeepRNN, RNNSpec
from seqjax.nn.seq2seq import Seq2Seq

__all__ = ["BagOfWords", "DeepRNN", "RNNLM", "RNNReadout", "RNNSpec", "Seq2Seq",
           "SequenceClassifier", "TextCNN"]
