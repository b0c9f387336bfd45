"""The captioning models: teacher forcing equals step-by-step decoding for every kind and cell,
attention weights are a distribution over regions, the gate and the doubly stochastic penalty
against NumPy, beam 1 equals greedy, and a caption does not depend on its batch-mates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.caption import task as caption_task
from seqjax.nn.caption import Captioner, attention_penalty
from seqjax.nn.rnn import RNNSpec

VOCAB = 13


def model(kind="attend_tell", cell="lstm", layers=1, **kw):
  return Captioner(vocab_size=VOCAB, kind=kind, channels=(6, 6, 6), embed_size=8,
                   rnn=RNNSpec(cell=cell, hidden_size=10, num_layers=layers), dropout_rate=0.0,
                   **kw)


def inputs(batch=3, steps=6, seed=0):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  images = jax.random.randint(k1, (batch, 64, 64, 3), 0, 256).astype(jnp.uint8)
  tokens = jax.random.randint(k2, (batch, steps), 1, VOCAB)
  return images, tokens


@pytest.mark.parametrize("kind,image_as,cell,layers,attend_from", [
    ("attend_tell", "first_input", "lstm", 1, "previous"),
    ("attend_tell", "first_input", "gru", 2, "previous"),
    ("attend_tell", "first_input", "lstm", 2, "current"),
    ("attend_tell", "first_input", "gru", 1, "current"),
    ("show_tell", "first_input", "lstm", 2, "previous"),
    ("show_tell", "initial_state", "gru", 1, "previous")])
def test_teacher_forcing_equals_step_by_step_decoding(kind, image_as, cell, layers, attend_from):
  m = model(kind, cell, layers, image_as=image_as, attend_from=attend_from)
  images, tokens = inputs()
  params = m.init(jax.random.PRNGKey(1), images, tokens)["params"]
  logits, alphas, betas = m.apply({"params": params}, images, tokens)
  memory, carry = m.apply({"params": params}, images, method=Captioner.encode)
  for t in range(tokens.shape[1]):
    step, carry, alpha = m.apply({"params": params}, memory, carry, tokens[:, t],
                                 method=Captioner.decode_step)
    np.testing.assert_allclose(step, logits[:, t], atol=1e-5)
    np.testing.assert_allclose(alpha, alphas[:, t], atol=1e-6)
  if kind == "attend_tell":
    # A distribution over the 8x8 = 64 regions at every step; the gate is in (0, 1).
    assert alphas.shape == (3, 6, 64)
    np.testing.assert_allclose(jnp.sum(alphas, -1), 1.0, atol=1e-5)
    assert bool(jnp.all(alphas >= 0)) and bool(jnp.all((betas > 0) & (betas < 1)))
  else:
    assert not bool(jnp.any(alphas)) and bool(jnp.all(betas == 1.0))


def test_the_gate_scales_the_context_and_can_be_turned_off():
  images, tokens = inputs()
  gated = model(gate=True)
  params = gated.init(jax.random.PRNGKey(1), images, tokens)["params"]
  _, _, betas = gated.apply({"params": params}, images, tokens)
  first = params["decoder_0"]
  h0 = jnp.tanh(jnp.mean(caption_regions(gated, params, images), 1) @ params["init_0_0"]
                + params["init_0_0_bias"][None, :])  # LSTMCarry is (h, c): leaf 0 is h
  expect = jax.nn.sigmoid(h0 @ params["beta_kernel"] + params["beta_bias"][None, :])[:, 0]
  np.testing.assert_allclose(betas[:, 0], expect, atol=1e-6)
  plain = model(gate=False)
  p2 = plain.init(jax.random.PRNGKey(1), images, tokens)["params"]
  assert "beta_kernel" not in p2
  assert jax.tree.map(jnp.shape, first) == jax.tree.map(jnp.shape, p2["decoder_0"])
  assert bool(jnp.all(plain.apply({"params": p2}, images, tokens)[2] == 1.0))


def test_attending_from_the_current_state_sees_the_previous_word():
  # "previous" (the paper) scores the regions for word t with h_{t-1}, before y_{t-1} is read:
  # changing the input token at step t leaves alpha_t alone and changes alpha_{t+1}.
  # "current" scores them with h_t, after reading it: alpha_t changes too.
  images, tokens = inputs(steps=5)
  other = tokens.at[:, 2].set((tokens[:, 2] % (VOCAB - 1)) + 1)
  assert bool(jnp.all(other[:, 2] != tokens[:, 2]))
  for attend_from, changes_now in (("previous", False), ("current", True)):
    m = model(attend_from=attend_from)
    params = m.init(jax.random.PRNGKey(1), images, tokens)["params"]
    _, a, _ = m.apply({"params": params}, images, tokens)
    _, b, _ = m.apply({"params": params}, images, other)
    np.testing.assert_array_equal(a[:, :2], b[:, :2])  # earlier steps never see it
    assert bool(jnp.any(jnp.abs(a[:, 2] - b[:, 2]) > 1e-6)) == changes_now, attend_from
    assert bool(jnp.all(jnp.any(jnp.abs(a[:, 3] - b[:, 3]) > 1e-6, axis=-1)))
  # The cell reads [E y; z] only when the attention comes first.
  size = lambda p: jax.tree.leaves(p["decoder_0"])[0].shape
  prev = model(attend_from="previous").init(jax.random.PRNGKey(1), images, tokens)["params"]
  cur = model(attend_from="current").init(jax.random.PRNGKey(1), images, tokens)["params"]
  assert size(prev) != size(cur)


def caption_regions(m, params, images):
  memory, _ = m.apply({"params": params}, images, method=Captioner.encode)
  return memory.regions


def test_the_doubly_stochastic_penalty_against_numpy():
  rng = np.random.default_rng(0)
  alphas = rng.dirichlet(np.ones(5), size=(2, 4)).astype(np.float32)  # [B, T, N]
  mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], np.float32)
  expect = [np.sum((1.0 - alphas[b, :int(mask[b].sum())].sum(0)) ** 2) for b in range(2)]
  np.testing.assert_allclose(attention_penalty(jnp.asarray(alphas), jnp.asarray(mask)), expect,
                             rtol=1e-6)
  # Attention that covers every region once over the caption costs nothing.
  eye = np.eye(4, dtype=np.float32)[None]
  assert float(attention_penalty(jnp.asarray(eye), jnp.ones((1, 4)))[0]) == 0.0


def test_beam_one_is_greedy_and_captions_do_not_depend_on_the_batch():
  # (The decoders drive both kinds through the same encode / decode_step interface.)
  m = model("attend_tell", layers=2)
  images, tokens = inputs(batch=4, seed=3)
  params = m.init(jax.random.PRNGKey(2), images, tokens)["params"]
  greedy = caption_task.make_decoder(m, beam_size=1, max_len=7)
  a = np.asarray(greedy(params, images))
  # Beam search with K=1 gives the greedy tokens.
  beam1 = caption_task.make_decoder(m, beam_size=1, max_len=7, beam_search=True)
  np.testing.assert_array_equal(np.asarray(beam1(params, images)), a)
  assert a.shape == (4, 7) and np.all(np.any(a == caption_task.EOS_ID, axis=1))  # all end
  for i in range(4):  # each image alone decodes to the same caption
    np.testing.assert_array_equal(np.asarray(greedy(params, images[i:i + 1]))[0], a[i])
  beam3 = caption_task.make_decoder(m, beam_size=3, max_len=7)
  b3 = np.asarray(beam3(params, images))
  for i in range(2):
    np.testing.assert_array_equal(np.asarray(beam3(params, images[i:i + 1]))[0], b3[i])


def test_bad_settings_are_named():
  images, tokens = inputs()
  with pytest.raises(ValueError, match="kind must be one of"):
    Captioner(vocab_size=VOCAB, kind="show_attend").init(jax.random.PRNGKey(0), images, tokens)
  with pytest.raises(ValueError, match="attend_from must be one of"):
    model(attend_from="next").init(jax.random.PRNGKey(0), images, tokens)
  with pytest.raises(ValueError, match="norm must be one of"):  # no model state here
    model(norm="batch").init(jax.random.PRNGKey(0), images, tokens)
  with pytest.raises(ValueError, match="cannot be bidirectional"):
    Captioner(vocab_size=VOCAB, rnn=RNNSpec(cell="lstm", hidden_size=4, bidirectional=True)
              ).init(jax.random.PRNGKey(0), images, tokens)
  with pytest.raises(ValueError, match="tokens_in must be"):
    model().init(jax.random.PRNGKey(0), images, tokens[0])
