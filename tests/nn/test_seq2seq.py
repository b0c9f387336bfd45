"""Seq2Seq: teacher forcing equals step-by-step decoding, bridges, masking, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.nn.rnn import RNNSpec
from seqjax.nn.seq2seq import Seq2Seq, reverse_within_lengths
from seqjax.train import losses

SRC = jnp.array([[4, 5, 6, 7, 3, 0], [8, 9, 3, 0, 0, 0], [5, 3, 0, 0, 0, 0]])
SRC_LEN = jnp.array([5, 3, 2])
TGT_IN = jnp.array([[2, 4, 5, 6, 7], [2, 8, 9, 0, 0], [2, 5, 0, 0, 0]])

VARIANTS = {
    "bahdanau_gru": dict(cell="gru", attention="additive", style="bahdanau", bridge="project"),
    "luong_lstm_feed": dict(cell="lstm", attention="bilinear", style="luong",
                            input_feeding=True, encoder_layers=2, decoder_layers=2),
    "luong_dot_gru": dict(cell="gru", attention="dot", style="luong", bidirectional=False,
                          bridge="last"),
    "scaled_dot_rnn": dict(cell="rnn", attention="scaled_dot", style="bahdanau",
                           bidirectional=False, bridge="zeros"),
    "sutskever_lstm": dict(cell="lstm", attention="none", bidirectional=False, bridge="last",
                           reverse_source=True, encoder_layers=2, decoder_layers=2),
    "bi_last_gru": dict(cell="gru", attention="none", bidirectional=True, bridge="last",
                        decoder_hidden_size=12),
}


def make(**kw):
  """A small ``Seq2Seq``; the encoder's ``cell``, ``hidden_size`` (6), ``bidirectional`` (True)
  and ``encoder_layers`` go into its ``RNNSpec``."""
  spec = dict(cell="gru", hidden_size=6, bidirectional=True)
  for key, field in (("cell", "cell"), ("hidden_size", "hidden_size"),
                     ("bidirectional", "bidirectional"), ("encoder_layers", "num_layers")):
    if key in kw:
      spec[field] = kw.pop(key)
  kw = dict(dict(src_vocab_size=11, tgt_vocab_size=13, embed_size=8, rnn=RNNSpec(**spec)), **kw)
  model = Seq2Seq(**kw)
  params = model.init(jax.random.PRNGKey(0), SRC, SRC_LEN, TGT_IN)["params"]
  return model, params


# Four variants run by default; the two attention-free ones with the slow tests.
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in ("sutskever_lstm", "bi_last_gru") else n
    for n in sorted(VARIANTS)])
def test_teacher_forced_logits_equal_step_by_step_decoding(name):
  model, params = make(**VARIANTS[name])
  logits, weights = model.apply({"params": params}, SRC, SRC_LEN, TGT_IN)
  assert logits.shape == (3, 5, 13) and weights.shape == (3, 5, 6)
  memory, carry = model.apply({"params": params}, SRC, SRC_LEN, method=Seq2Seq.encode)
  for t in range(TGT_IN.shape[1]):
    step_logits, carry, step_weights = model.apply({"params": params}, memory, carry,
                                                   TGT_IN[:, t], method=Seq2Seq.decode_step)
    np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(step_weights, weights[:, t], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["bahdanau_gru", "luong_lstm_feed", "luong_dot_gru"])
def test_attention_sums_to_one_over_the_real_source_tokens(name):
  model, params = make(**VARIANTS[name])
  _, weights = model.apply({"params": params}, SRC, SRC_LEN, TGT_IN)
  mask = np.arange(6)[None, :] < np.asarray(SRC_LEN)[:, None]
  np.testing.assert_allclose(np.sum(weights, -1), 1.0, rtol=1e-5)
  assert np.all(np.asarray(weights)[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_padding_after_the_source_changes_nothing(name):
  model, params = make(**VARIANTS[name])
  logits, _ = model.apply({"params": params}, SRC, SRC_LEN, TGT_IN)
  noisy = jnp.where(jnp.arange(6)[None, :] < SRC_LEN[:, None], SRC, 10)
  wide = jnp.concatenate([noisy, jnp.full((3, 3), 7)], axis=1)
  logits2, _ = model.apply({"params": params}, wide, SRC_LEN, TGT_IN)
  np.testing.assert_allclose(logits2, logits, rtol=1e-5, atol=1e-6)


def test_reverse_source_reverses_within_each_length():
  out = reverse_within_lengths(SRC, SRC_LEN)
  np.testing.assert_array_equal(out, [[3, 7, 6, 5, 4, 0], [3, 9, 8, 0, 0, 0],
                                      [3, 5, 0, 0, 0, 0]])
  model, params = make(**VARIANTS["sutskever_lstm"])
  forward = model.clone(reverse_source=False)
  a, _ = model.apply({"params": params}, SRC, SRC_LEN, TGT_IN)
  b, _ = forward.apply({"params": params}, out, SRC_LEN, TGT_IN)
  np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.slow  # run with `pytest -m slow`
def test_gradients_reach_every_parameter_and_are_finite():
  model, params = make(**VARIANTS["bahdanau_gru"], dropout_rate=0.3)

  def loss(p):
    logits, _ = model.apply({"params": p}, SRC, SRC_LEN, TGT_IN, deterministic=False,
                            rngs={"dropout": jax.random.PRNGKey(1)})
    return jnp.mean(losses.token_nll(logits, TGT_IN))

  grads = jax.grad(loss)(params)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(g)), path
    assert np.any(g != 0), f"no gradient reaches {jax.tree_util.keystr(path)}"


def test_teacher_forcing_ratio_feeds_the_models_own_predictions():
  model, params = make(**VARIANTS["bahdanau_gru"], teacher_forcing_ratio=0.0)
  rngs = {"dropout": jax.random.PRNGKey(3)}
  own, _ = model.apply({"params": params}, SRC, SRC_LEN, TGT_IN, deterministic=False, rngs=rngs)
  # Ratio 0: step t reads the argmax of step t-1, so the logits equal greedy decoding's.
  memory, carry = model.apply({"params": params}, SRC, SRC_LEN, method=Seq2Seq.encode)
  tokens = TGT_IN[:, 0]
  for t in range(5):
    logits, carry, _ = model.apply({"params": params}, memory, carry, tokens,
                                   method=Seq2Seq.decode_step)
    np.testing.assert_allclose(own[:, t], logits, rtol=1e-5, atol=1e-6)
    tokens = jnp.argmax(logits, -1)
  forced, _ = model.apply({"params": params}, SRC, SRC_LEN, TGT_IN)
  assert not np.allclose(own, forced)


def test_bad_configurations_raise_clear_errors():
  with pytest.raises(ValueError, match="input_feeding needs style='luong'"):
    make(attention="additive", style="bahdanau", input_feeding=True)
  with pytest.raises(ValueError, match="bridge must be one of"):
    make(bridge="mean")
  with pytest.raises(ValueError, match="encoder layer 0's final state"):
    make(attention="none", bidirectional=True, bridge="last")  # 2 x 6 != 6
  with pytest.raises(ValueError, match="rnn.num_layers == decoder_layers"):
    make(bridge="last", encoder_layers=2, decoder_layers=1, bidirectional=False)
  model, params = make()
  with pytest.raises(ValueError, match="tgt_in must be"):
    model.apply({"params": params}, SRC, SRC_LEN, TGT_IN[:2])
