"""Cross-entropies the tasks share, in float32 whatever the logits' dtype."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def token_nll(logits: jax.Array, targets: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
  """``[..., V], [...] -> [...]`` cross-entropy, with optional label smoothing ``eps``
  (the target gets ``1 - eps``, every class ``eps / V`` more). Computed on the flattened
  ``[N, V]``: the 3-D form's gradient costs XLA:CPU a transpose of the whole logits array.

  >>> import jax.numpy as jnp
  >>> float(token_nll(jnp.zeros((1, 2, 4)), jnp.array([[0, 3]]))[0, 1])  # ln 4
  1.3862943649291992
  """
  flat = jnp.reshape(logits.astype(jnp.float32), (-1, logits.shape[-1]))
  labels = jnp.reshape(targets, (-1,))
  if label_smoothing:
    v = flat.shape[-1]
    soft = optax.smooth_labels(jax.nn.one_hot(labels, v), label_smoothing)
    nll = optax.softmax_cross_entropy(flat, soft)
  else:
    nll = optax.softmax_cross_entropy_with_integer_labels(flat, labels)
  return jnp.reshape(nll, targets.shape)


def example_nll(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """``[B, C], [B] -> [B]`` cross-entropy (one label per example)."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
