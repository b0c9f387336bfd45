"""Classifiers: padding invariance, true-last-step pooling, pooling equations, freezing."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seqjax.cells import gru, lstm
from seqjax.nn import layers, sentiment as models
from seqjax.nn.rnn import RNNSpec
from seqjax.train import optim
from seqjax.recurrence import unroll

V, C = 30, 3


def bi(**kw):
  """The classifier's default RNN spec (one bidirectional LSTM layer) with ``kw`` changed."""
  return RNNSpec(**{"bidirectional": True, **kw})


def _models():
  small = dict(num_classes=C, vocab_size=V, embed_size=8)
  return {
      "bilstm_attention": models.SequenceClassifier(rnn=bi(hidden_size=6), mlp_hidden=(5,),
                                                        **small),
      "bilstm_last": models.SequenceClassifier(rnn=bi(hidden_size=6), pooling="last",
                                                   **small),
      "lstm_last_2layers": models.SequenceClassifier(
          rnn=RNNSpec(hidden_size=6, num_layers=2), pooling="last", **small),
      "bigru_max": models.SequenceClassifier(rnn=bi(cell="gru", hidden_size=6),
                                                 pooling="max", **small),
      "rnn_mean": models.SequenceClassifier(rnn=RNNSpec(cell="rnn", hidden_size=6),
                                                pooling="mean", **small),
      "cnn": models.TextCNN(filter_widths=(2, 3), num_filters=4, **small),
      "bow": models.BagOfWords(mlp_hidden=(7,), **small),
  }


# The attention-pooled BiLSTM (the slowest to compile) runs with the slow tests.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "bilstm_attention"
                                  else n for n in _models()])
def test_padding_invariance(name):
  """A sentence classified alone gives the logits it gets inside a wider, padded batch."""
  model = _models()[name]
  rng = np.random.default_rng(0)
  sentences = [rng.integers(4, V, n) for n in (3, 7, 1, 5)]
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32),
                      jnp.array([8]))["params"]
  T = 12
  tokens = np.zeros((4, T), np.int32)
  for i, s in enumerate(sentences):
    tokens[i, :len(s)] = s
  tokens[:, -2:] = rng.integers(4, V, (4, 2))  # junk past the lengths must not matter either
  lengths = np.array([len(s) for s in sentences], np.int32)
  batched = model.apply({"params": params}, jnp.asarray(tokens), jnp.asarray(lengths))
  assert batched.shape == (4, C)
  for i, s in enumerate(sentences):
    width = max(len(s), 3)  # TextCNN needs max(filter_widths) steps
    alone_tokens = np.zeros((1, width), np.int32)
    alone_tokens[0, :len(s)] = s
    alone = model.apply({"params": params}, jnp.asarray(alone_tokens),
                        jnp.asarray([len(s)], jnp.int32))
    np.testing.assert_allclose(alone[0], batched[i], rtol=1e-5, atol=1e-6)


def _embedded(params, tokens):
  return jnp.take(params["embed"]["embedding"], jnp.asarray(tokens), axis=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_pooling_is_the_state_at_the_true_last_step(bidirectional):
  model = models.SequenceClassifier(num_classes=C, vocab_size=V, embed_size=5,
                                        rnn=RNNSpec(hidden_size=4, bidirectional=bidirectional),
                                        pooling="last", mlp_hidden=(), output_bias=False)
  params = model.init(jax.random.PRNGKey(1), jnp.zeros((1, 6), jnp.int32),
                      jnp.array([6]))["params"]
  sentence = np.array([5, 9, 11, 4], np.int32)
  tokens = np.zeros((1, 10), np.int32)
  tokens[0, :4] = sentence
  logits = model.apply({"params": params}, jnp.asarray(tokens), jnp.array([4]))
  xs = _embedded(params, sentence)  # the sentence alone, no padding at all
  layer = params["rnn"]["layer_0"]
  if bidirectional:
    _, fw = unroll(lstm.CELL, layer.forward, xs)
    _, bw = unroll(lstm.CELL, layer.backward, xs, reverse=True)
    pooled = jnp.concatenate([fw.h, bw.h])
  else:
    _, final = unroll(lstm.CELL, layer, xs)
    pooled = final.h
  expected = pooled @ params["head"]["Dense_0"]["kernel"]
  np.testing.assert_allclose(logits[0], expected, rtol=1e-5, atol=1e-6)
  # Not the padded last step: reading the 10 padded steps gives other logits.
  _, padded_final = unroll(lstm.CELL, layer.forward if bidirectional else layer,
                           _embedded(params, tokens[0]))
  assert not np.allclose(padded_final.h, pooled[:4], atol=1e-4)


def test_gru_classifier_uses_the_gru_cell():
  model = models.SequenceClassifier(
      num_classes=2, vocab_size=V, embed_size=4, pooling="last", mlp_hidden=(),
      output_bias=False,
      rnn=RNNSpec(cell="gru", hidden_size=3, cell_options={"reset_after": False}))
  params = model.init(jax.random.PRNGKey(2), jnp.zeros((1, 4), jnp.int32),
                      jnp.array([4]))["params"]
  sentence = np.array([[7, 8, 9]], np.int32)
  logits = model.apply({"params": params}, jnp.asarray(sentence), jnp.array([3]))
  _, final = unroll(gru.CELL, params["rnn"]["layer_0"], _embedded(params, sentence[0]))
  np.testing.assert_allclose(logits[0], final.h @ params["head"]["Dense_0"]["kernel"],
                             rtol=1e-5, atol=1e-6)


def test_dropout_and_word_dropout_only_when_training():
  model = models.SequenceClassifier(num_classes=2, vocab_size=V, embed_size=8,
                                        rnn=bi(hidden_size=8), dropout_rate=0.5,
                                        word_dropout_rate=0.5)
  tokens, lengths = jnp.ones((4, 6), jnp.int32) * 7, jnp.full((4,), 6)
  params = model.init(jax.random.PRNGKey(0), tokens, lengths)["params"]
  a = model.apply({"params": params}, tokens, lengths)
  b = model.apply({"params": params}, tokens, lengths)
  np.testing.assert_array_equal(a, b)
  c = model.apply({"params": params}, tokens, lengths, deterministic=False,
                  rngs={"dropout": jax.random.PRNGKey(1)})
  assert not np.allclose(a, c)
  with pytest.raises(Exception, match="dropout"):
    model.apply({"params": params}, tokens, lengths, deterministic=False)


def test_pretrained_vectors_and_freezing():
  table = np.random.default_rng(0).normal(size=(V, 4)).astype(np.float32)
  model = models.BagOfWords(num_classes=2, vocab_size=V, embed_size=4,
                                     pretrained=table, freeze_embeddings=True)
  tokens, lengths = jnp.array([[5, 6, 7]]), jnp.array([3])
  params = model.init(jax.random.PRNGKey(0), tokens, lengths)["params"]
  np.testing.assert_array_equal(params["embed"]["embedding"], table)
  cfg = type("Cfg", (), dict(name="sgd", learning_rate=0.5, momentum=0.0, weight_decay=0.1,
                             clip_norm=0.0, schedule="constant"))
  tx = optim.make_optimizer(cfg, 1, 1, frozen=layers.frozen_mask)
  opt_state = tx.init(params)

  def loss(p):
    return optax.softmax_cross_entropy_with_integer_labels(
        model.apply({"params": p}, tokens, lengths), jnp.array([1])).sum()

  updates, _ = tx.update(jax.grad(loss)(params), opt_state, params)
  new = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(new["embed"]["embedding"], table)  # weight decay too
  assert not np.allclose(new["head"]["Dense_0"]["kernel"], params["head"]["Dense_0"]["kernel"])
  wrong = models.BagOfWords(num_classes=2, vocab_size=V + 1, embed_size=4,
                                     pretrained=table)
  with pytest.raises(ValueError, match=r"pretrained vectors have shape \(30, 4\)"):
    wrong.init(jax.random.PRNGKey(0), tokens, lengths)


def test_input_errors():
  model = models.TextCNN(num_classes=2, vocab_size=V, embed_size=4, filter_widths=(3, 5))
  with pytest.raises(ValueError, match=r"pad to at least max\(filter_widths\) = 5"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((2, 4), jnp.int32), jnp.array([4, 4]))
  rnn = models.SequenceClassifier(num_classes=2, vocab_size=V)
  with pytest.raises(ValueError, match=r"lengths must have shape \[batch\] = \(2,\)"):
    rnn.init(jax.random.PRNGKey(0), jnp.zeros((2, 4), jnp.int32), jnp.array([4]))
  with pytest.raises(ValueError, match=r"tokens must have shape \[batch, time\]"):
    rnn.init(jax.random.PRNGKey(0), jnp.zeros((4,), jnp.int32), jnp.array([4]))
  bad = models.SequenceClassifier(num_classes=2, vocab_size=V, pooling="first")
  with pytest.raises(ValueError, match="pooling must be one of"):
    bad.init(jax.random.PRNGKey(0), jnp.zeros((2, 4), jnp.int32), jnp.array([4, 4]))


def test_multichannel_cnn_keeps_its_static_channel_fixed():
  """Kim's CNN-multichannel: both tables start from the pretrained vectors; training (AdamW,
  with weight decay) moves the fine-tuned channel and leaves the static one exactly as it was."""
  import optax  # pylint: disable=g-import-not-at-top
  from experiments.sentiment.configs import tiny  # pylint: disable=g-import-not-at-top
  from experiments.sentiment.task import TASK  # pylint: disable=g-import-not-at-top
  table = np.random.default_rng(0).normal(size=(V, 6)).astype(np.float32)
  model = models.TextCNN(num_classes=2, vocab_size=V, embed_size=6, filter_widths=(2, 3),
                         num_filters=4, channels=2, pretrained=table)
  tokens = jnp.asarray(np.random.default_rng(1).integers(2, V, (8, 7)), jnp.int32)
  lengths, labels = jnp.full((8,), 7), jnp.arange(8) % 2
  params = model.init(jax.random.PRNGKey(0), tokens, lengths)["params"]
  np.testing.assert_array_equal(params["embed"]["embedding"], table)
  np.testing.assert_array_equal(params["embed_static"]["embedding"], table)
  c = tiny.get_config()
  c.model.kind, c.model.channels, c.model.max_norm = "cnn", 2, 3.0
  c.optimizer.name, c.optimizer.weight_decay, c.optimizer.learning_rate = "adamw", 0.1, 1e-2
  tx = TASK.optimizer(c, 10, 10)
  with jax.numpy_dtype_promotion("standard"):
    state = tx.init(params)

  def loss(p):
    logits = model.apply({"params": p}, tokens, lengths)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  start = params
  for _ in range(3):
    grads = jax.grad(loss)(params)
    with jax.numpy_dtype_promotion("standard"):  # optax's schedules mix int steps and floats
      updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(params["embed_static"]["embedding"], table)
  assert not np.allclose(params["embed"]["embedding"], start["embed"]["embedding"])
  assert np.all(np.linalg.norm(np.asarray(params["output"]["kernel"]), axis=0) <= 3.0 + 1e-5)
  with pytest.raises(ValueError, match="multichannel\\) needs pretrained vectors"):
    models.TextCNN(num_classes=2, vocab_size=V, embed_size=6, channels=2).init(
        jax.random.PRNGKey(0), tokens, lengths)
