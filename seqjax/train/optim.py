"""Optimizers from config: ``clip_by_global_norm`` then SGD / Adam / AdamW, with schedules.

Config (``ml_collections.ConfigDict``, section ``optimizer``):

- ``name``: ``"sgd"``, ``"adam"`` or ``"adamw"``; ``learning_rate``; ``momentum`` (SGD, 0 for
  plain SGD); ``weight_decay`` (AdamW decoupled, SGD coupled L2 via ``add_decayed_weights``);
  ``clip_norm`` (global gradient norm, 0 to disable).
- ``schedule``: ``"constant"``; ``"zaremba"``: ``lr * decay ** max(epoch + 1 - decay_after, 0)``
  with ``epoch`` counted from 0 (Zaremba et al. 2014 / the TF PTB tutorial: constant for
  ``decay_after`` epochs, then divided by ``1/decay`` every epoch); ``"warmup_cosine"``: linear
  warmup over ``warmup_steps`` then cosine to 0 at ``total_steps`` (0: the run's
  ``num_steps``); ``"plateau"``: constant until the training loop calls
  ``decay_learning_rate`` (validation stopped improving).

The learning rate is injected as a hyperparameter (``optax.inject_hyperparams``), so the
current value is in the optimizer state and survives checkpoints.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from seqjax.train import config as config_lib

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "zaremba", "warmup_cosine", "plateau")
# Declared constraints of the ``optimizer`` section (``seqjax.train.config.check_values``).
CHECKS = {"optimizer.name": config_lib.one_of(OPTIMIZERS),
          "optimizer.schedule": config_lib.one_of(SCHEDULES),
          "optimizer.learning_rate": config_lib.positive,
          "optimizer.momentum": config_lib.fraction,
          "optimizer.clip_norm": config_lib.nonnegative,
          "optimizer.weight_decay": config_lib.nonnegative,
          "optimizer.decay": config_lib.positive,
          "optimizer.decay_after": config_lib.nonnegative_int,
          "optimizer.warmup_steps": config_lib.nonnegative_int,
          "optimizer.total_steps": config_lib.nonnegative_int}


def make_schedule(cfg: Any, steps_per_epoch: int, num_steps: int = 0) -> Any:
  name, lr = cfg.schedule, cfg.learning_rate
  if name not in SCHEDULES:
    raise ValueError(f"optimizer.schedule must be one of {list(SCHEDULES)}; got {name!r}")
  if name in ("constant", "plateau"):
    return lr
  if name == "zaremba":
    decay, after = cfg.decay, cfg.decay_after

    def schedule(step):
      epoch = step // steps_per_epoch
      return lr * decay ** jnp.maximum(epoch + 1 - after, 0).astype(jnp.float32)

    return schedule
  total = cfg.total_steps or num_steps
  if total <= cfg.warmup_steps:
    raise ValueError(f"optimizer.total_steps ({total}) must exceed optimizer.warmup_steps "
                     f"({cfg.warmup_steps}) for the warmup_cosine schedule")
  return optax.warmup_cosine_decay_schedule(0.0, lr, cfg.warmup_steps, total)


def make_optimizer(cfg: Any, steps_per_epoch: int, num_steps: int = 0, frozen: Any = None,
                   last: Any = None) -> optax.GradientTransformation:
  """The optax chain the config describes (see the module docstring).

  ``frozen``: a pytree of bools over the params (or a function of the params returning one);
  the updates of True leaves are zeroed after everything else, so weight decay does not move
  them either (frozen pretrained embeddings). ``last``: a transformation applied after all of
  that (a projection such as ``max_norm``).
  """
  if cfg.name not in OPTIMIZERS:
    raise ValueError(f"optimizer.name must be one of {list(OPTIMIZERS)}; got {cfg.name!r}")

  def build(learning_rate):
    if cfg.name == "sgd":
      parts = []
      if cfg.weight_decay:
        parts.append(optax.add_decayed_weights(cfg.weight_decay))
      parts.append(optax.sgd(learning_rate, momentum=cfg.momentum or None))
      return optax.chain(*parts)
    if cfg.name == "adam":
      return optax.adam(learning_rate)
    return optax.adamw(learning_rate, weight_decay=cfg.weight_decay)

  inner = optax.inject_hyperparams(build)(learning_rate=make_schedule(cfg, steps_per_epoch, num_steps))
  clip = optax.clip_by_global_norm(cfg.clip_norm) if cfg.clip_norm else optax.identity()
  parts = [clip, inner]
  if frozen is not None:
    parts.append(optax.masked(optax.set_to_zero(), frozen))
  if last is not None:
    parts.append(last)
  return optax.chain(*parts)


def _hyperparams(opt_state: Any) -> dict:
  return opt_state[1].hyperparams


def learning_rate(opt_state: Any) -> float:
  """The learning rate the last update used (or will use, for constant schedules)."""
  return float(_hyperparams(opt_state)["learning_rate"])


def set_learning_rate(opt_state: Any, rate: float) -> Any:
  """Sets the injected learning rate to ``rate`` (same dtype and placement); a resumed run
  whose config changed ``optimizer.learning_rate`` (``seqjax.train.trainer``)."""
  hp = _hyperparams(opt_state)
  old = hp["learning_rate"]
  value = jnp.asarray(rate, dtype=old.dtype)
  hp["learning_rate"] = (jax.device_put(value, old.sharding) if isinstance(old, jax.Array)
                         else value)
  return opt_state


def decay_learning_rate(opt_state: Any, factor: float) -> Any:
  """Multiplies the injected learning rate by ``factor`` (plateau schedule)."""
  hp = _hyperparams(opt_state)
  hp["learning_rate"] = hp["learning_rate"] * factor
  return opt_state


def max_norm(scale: float, module: str) -> optax.GradientTransformation:
  """Kim (2014)'s constraint, as the last step of an optimizer: after each update every weight
  vector (column) of ``module``'s ``kernel`` whose l2 norm exceeds ``scale`` is rescaled to norm
  ``scale``. The update returned is ``projected(params + updates) - params``."""

  def selected(path) -> bool:
    names = [getattr(p, "key", getattr(p, "name", "")) for p in path]
    return len(names) >= 2 and names[-1] == "kernel" and module in names[:-1]

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("max_norm needs the parameters")

    def project(path, u, p):
      if not selected(path):
        return u
      new = p + u
      norms = jnp.sqrt(jnp.sum(jnp.square(new), axis=0, keepdims=True))
      factor = jnp.where(norms > scale, scale / jnp.maximum(norms, 1e-12), 1.0)
      return new * factor.astype(new.dtype) - p

    return jax.tree_util.tree_map_with_path(project, updates, params), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
