"""The image encoder's batch normalisation (``ConvEncoder(norm="batch")``, the Relation Networks
paper's): PyTorch's ``Conv2d -> ReLU -> BatchNorm2d`` in training and evaluation, the running
statistics' update, filler images left out of the batch's statistics, and evaluation that does
not depend on the batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.nn.vision import ConvEncoder

CHANNELS = (5, 6, 7, 4)


def encoder():
  return ConvEncoder(CHANNELS, norm="batch", invert=True)


def images(n, seed=0):
  return jnp.asarray(np.random.default_rng(seed).integers(0, 256, size=(n, 75, 75, 3)),
                     jnp.uint8)


def train(enc, variables, x, mask=None):
  return enc.apply(variables, x, train=True, mask=mask, mutable=["batch_stats"])


def test_training_and_evaluation_equal_pytorch():
  torch = pytest.importorskip("torch")
  enc, x = encoder(), images(4)
  variables = enc.init(jax.random.key(0), x)
  # A scale and shift away from 1 and 0, so that they are checked too.
  rng = np.random.default_rng(1)
  params = jax.tree.map(lambda a: jnp.asarray(np.asarray(a) + rng.normal(0, 0.3, a.shape),
                                              jnp.float32), variables["params"])
  variables = {"params": params, "batch_stats": variables["batch_stats"]}
  layers = []
  cin = 3
  for k, c in enumerate(CHANNELS):
    conv = torch.nn.Conv2d(cin, c, 3, stride=2, padding=1)
    conv.weight.data = torch.tensor(np.asarray(params[f"conv_{k}"]["kernel"]).transpose(3, 2, 0, 1))
    conv.bias.data = torch.tensor(np.asarray(params[f"conv_{k}"]["bias"]))
    bn = torch.nn.BatchNorm2d(c)  # momentum 0.1, eps 1e-5
    bn.weight.data = torch.tensor(np.asarray(params[f"norm_{k}"]["scale"]))
    bn.bias.data = torch.tensor(np.asarray(params[f"norm_{k}"]["bias"]))
    layers += [conv, torch.nn.ReLU(), bn]
    cin = c
  # In float64: PyTorch's float32 convolutions differ from float64 by up to 4e-4 after the
  # batch's normalisation, seqjax's float32 by 1.5e-5.
  net = torch.nn.Sequential(*layers).double()
  to_torch = lambda a: torch.tensor(1.0 - np.asarray(a, np.float64) / 255.0).permute(0, 3, 1, 2)
  from_torch = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)
  state = variables
  for step in range(3):  # three training batches update the running statistics
    batch = images(4, seed=10 + step)
    ours, updates = train(enc, state, batch)
    state = {"params": params, **updates}
    net.train()
    np.testing.assert_allclose(np.asarray(ours), from_torch(net(to_torch(batch))), rtol=1e-4,
                               atol=5e-5)
  sizes = [38, 19, 10, 5]
  for k, bn in enumerate(layers[2::3]):
    stats = state["batch_stats"][f"norm_{k}"]
    np.testing.assert_allclose(np.asarray(stats["mean"]), bn.running_mean.numpy(), rtol=1e-4,
                               atol=1e-6)
    # PyTorch updates the running variance with the unbiased batch variance, Flax with the
    # biased one: they differ by n / (n - 1) per update, n the values per channel.
    n = 4 * sizes[k] ** 2
    np.testing.assert_allclose(np.asarray(stats["var"]), bn.running_var.numpy(),
                               rtol=1e-4 + 1.0 / (n - 1))
    bn.running_var.data = torch.tensor(np.asarray(stats["var"], np.float64))
  net.eval()
  test = images(3, seed=99)
  np.testing.assert_allclose(np.asarray(enc.apply(state, test)), from_torch(net(to_torch(test))),
                             rtol=1e-4, atol=5e-5)


def test_the_running_statistics_move_by_the_momentum():
  enc, x = encoder(), images(4)
  variables = enc.init(jax.random.key(0), x)
  stats0 = variables["batch_stats"]["norm_0"]
  np.testing.assert_array_equal(stats0["mean"], 0.0)
  np.testing.assert_array_equal(stats0["var"], 1.0)
  _, updates = train(enc, variables, x)
  # The first layer's batch statistics, in NumPy: mean and (biased) variance over images and
  # cells of the ReLU of the convolution.
  conv = jax.lax.conv_general_dilated(
      1.0 - jnp.asarray(x, jnp.float32) / 255.0, variables["params"]["conv_0"]["kernel"],
      (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
  h = np.maximum(np.asarray(conv) + np.asarray(variables["params"]["conv_0"]["bias"]), 0.0)
  mean, var = h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))
  stats = updates["batch_stats"]["norm_0"]
  np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * var, rtol=1e-5)


def test_filler_images_are_left_out_of_the_batch_statistics():
  enc, x = encoder(), images(3)
  variables = enc.init(jax.random.key(0), x)
  padded = jnp.concatenate([x, images(2, seed=5)])
  out, updates = train(enc, variables, padded, mask=jnp.array([True] * 3 + [False] * 2))
  alone, alone_updates = train(enc, variables, x)
  np.testing.assert_allclose(np.asarray(out[:3]), np.asarray(alone), rtol=1e-5, atol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               updates, alone_updates)
  unmasked, _ = train(enc, variables, padded)
  assert not np.allclose(np.asarray(unmasked[:3]), np.asarray(alone), atol=1e-4)


def test_evaluation_uses_the_running_statistics_not_the_batch():
  enc, x = encoder(), images(4)
  variables = enc.init(jax.random.key(0), x)
  _, updates = train(enc, variables, x)
  state = {"params": variables["params"], **updates}
  one = enc.apply(state, x[:1])
  np.testing.assert_allclose(np.asarray(enc.apply(state, x)[:1]), np.asarray(one), rtol=1e-6,
                             atol=1e-7)
  np.testing.assert_allclose(
      np.asarray(enc.apply(state, jnp.concatenate([x[:1], images(5, seed=3)]))[:1]),
      np.asarray(one), rtol=1e-6, atol=1e-7)
  with pytest.raises(ValueError, match="norm must be one of"):
    ConvEncoder(norm="group").init(jax.random.key(0), x)
