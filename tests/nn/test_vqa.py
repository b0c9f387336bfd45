"""The VQA models: the Relation Network against the pairwise formula in NumPy and invariant to
the order of the objects, the SAN's attention, text questions that ignore their padding, and
answers that do not depend on how questions are grouped into a batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.nn import vqa
from seqjax.nn.rnn import RNNSpec


def relu(x):
  return np.maximum(x, 0.0)


@pytest.mark.parametrize("reduce,g_sizes", [("sum", (6, 7)), ("mean", (6, 7)),
                                             ("mean", (6, 7, 5))],
                         ids=["sum", "mean", "mean-g3"])
def test_relation_head_is_g_over_every_pair_then_pooled(reduce, g_sizes):
  rng = np.random.default_rng(0)
  objs = rng.normal(size=(2, 5, 4)).astype(np.float32)
  q = rng.normal(size=(2, 3)).astype(np.float32)
  head = vqa.RelationHead(g_sizes, reduce)
  params = head.init(jax.random.key(0), objs, q)["params"]
  got = np.asarray(head.apply({"params": params}, objs, q))
  p = jax.tree.map(np.asarray, params)
  w0 = np.concatenate([p["g_0_i"]["kernel"], p["g_0_j"]["kernel"], p["g_0_q"]["kernel"]])
  want = np.zeros((2, g_sizes[-1]))
  for b in range(2):
    for i in range(5):
      for j in range(5):
        x = np.concatenate([objs[b, i], objs[b, j], q[b]])  # g([o_i; o_j; q])
        h = relu(x @ w0 + p["g_0_q"]["bias"])
        for k in range(1, len(g_sizes)):
          h = relu(h @ p[f"g_{k}"]["kernel"] + p[f"g_{k}"]["bias"])
        want[b] += h
  want = want / 25 if reduce == "mean" else want
  np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_relation_head_does_not_depend_on_the_order_of_the_objects():
  rng = np.random.default_rng(1)
  objs = jnp.asarray(rng.normal(size=(3, 25, 26)), jnp.float32)
  q = jnp.asarray(rng.normal(size=(3, 11)), jnp.float32)
  head = vqa.RelationHead((16, 16, 16), "sum")
  params = head.init(jax.random.key(0), objs, q)
  out = head.apply(params, objs, q)
  for seed in range(3):
    perm = np.random.default_rng(seed).permutation(25)
    np.testing.assert_allclose(head.apply(params, objs[:, perm], q), out, rtol=1e-5, atol=1e-4)
  # ... but it does depend on the question and on the objects themselves.
  assert not np.allclose(head.apply(params, objs, q[::-1]), out, atol=1e-3)


def test_the_encoder_makes_25_objects_tagged_with_their_position():
  images = jnp.zeros((2, 75, 75, 3), jnp.uint8)
  enc = vqa.ConvEncoder()
  fmap = enc.apply(enc.init(jax.random.key(0), images), images)
  assert fmap.shape == (2, 5, 5, 24)
  objs = vqa.objects(fmap)
  assert objs.shape == (2, 25, 26)
  xy = np.asarray(objs[0, :, -2:]).reshape(5, 5, 2)
  np.testing.assert_allclose(xy[0, :, 0], np.linspace(-1, 1, 5))  # x along a row
  np.testing.assert_allclose(xy[:, 0, 1], np.linspace(-1, 1, 5))  # y down a column


def images_and_questions(b=2, q=3, text=False, seed=0):
  rng = np.random.default_rng(seed)
  images = jnp.asarray(rng.integers(0, 256, size=(b, 75, 75, 3)), jnp.uint8)
  if not text:
    return images, jnp.asarray(rng.normal(size=(b, q, 11)), jnp.float32), None
  lengths = jnp.asarray(rng.integers(3, 9, size=(b, q)), jnp.int32)
  tokens = jnp.asarray(rng.integers(2, 40, size=(b, q, 14)), jnp.int32)
  tokens = jnp.where(jnp.arange(14)[None, None, :] < lengths[..., None], tokens, 0)
  return images, tokens, lengths


SMALL = dict(channels=(4, 4, 4, 4), g_sizes=(8, 8), f_sizes=(8,), mlp_size=8, san_size=8,
             vocab_size=41, embed_size=4, rnn=RNNSpec(cell="lstm", hidden_size=6))


def test_san_attention_is_a_distribution_over_the_regions_per_layer():
  model = vqa.VQAModel(kind="san", san_layers=3, **SMALL)
  images, q, _ = images_and_questions()
  params = model.init(jax.random.key(0), images, q)
  logits, att = model.apply(params, images, q, return_attention=True)
  assert logits.shape == (2, 3, 12) and att.shape == (2, 3, 3, 25)
  np.testing.assert_allclose(np.asarray(att).sum(-1), 1.0, rtol=1e-5)
  assert np.all(np.asarray(att) > 0)
  # The layers attend differently (each refines the query).
  assert not np.allclose(att[:, :, 0], att[:, :, 1], atol=1e-4)
  assert vqa.VQAModel(kind="rn", **SMALL).apply(
      vqa.VQAModel(kind="rn", **SMALL).init(jax.random.key(0), images, q), images, q,
      return_attention=True)[1] is None


@pytest.mark.parametrize("kind", vqa.KINDS)
def test_text_questions_ignore_what_lies_past_their_length(kind):
  model = vqa.VQAModel(kind=kind, question="text", **SMALL)
  images, tokens, lengths = images_and_questions(text=True)
  params = model.init(jax.random.key(0), images, tokens, lengths)
  out = model.apply(params, images, tokens, lengths)
  garbage = jnp.where(jnp.arange(14)[None, None, :] < lengths[..., None], tokens, 17)
  np.testing.assert_array_equal(model.apply(params, images, garbage, lengths), out)
  wider = jnp.pad(tokens, ((0, 0), (0, 0), (0, 6)))  # more padding
  np.testing.assert_allclose(model.apply(params, images, wider, lengths), out, atol=1e-6)
  shorter = jnp.maximum(lengths - 1, 1)
  assert not np.allclose(model.apply(params, images, tokens, shorter), out)


@pytest.mark.parametrize("kind", vqa.KINDS)
def test_answers_do_not_depend_on_how_questions_are_grouped(kind):
  model = vqa.VQAModel(kind=kind, **SMALL)
  images, q, _ = images_and_questions(b=2, q=4)
  params = model.init(jax.random.key(0), images, q)
  together = np.asarray(model.apply(params, images, q))
  for b in range(2):
    for j in range(4):
      alone = model.apply(params, images[b:b + 1], q[b:b + 1, j:j + 1])
      np.testing.assert_allclose(alone[0, 0], together[b, j], rtol=1e-5, atol=1e-5)


def test_dropout_only_when_training_and_bad_inputs_are_named():
  model = vqa.VQAModel(kind="cnn_mlp", **SMALL)
  images, q, _ = images_and_questions()
  params = model.init(jax.random.key(0), images, q)
  a = model.apply(params, images, q, deterministic=False, rngs={"dropout": jax.random.key(1)})
  b = model.apply(params, images, q, deterministic=False, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(model.apply(params, images, q), model.apply(params, images, q))
  with pytest.raises(ValueError, match=r"vector questions must be \[B, q, 11\]"):
    model.apply(params, images, q[:, 0])
  with pytest.raises(ValueError, match="kind must be one of"):
    vqa.VQAModel(kind="mlp").init(jax.random.key(0), images, q)
  with pytest.raises(ValueError, match="text questions need their lengths"):
    vqa.VQAModel(question="text", **{**SMALL}).init(
        jax.random.key(0), images, jnp.zeros((2, 3, 14), jnp.int32))
