import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from experiments.lm.configs import base
from seqjax.train import optim


def cfg(**kw):
  c = ml_collections.ConfigDict(base.get_config().optimizer.to_dict())
  c.update(kw)
  return c


def lrs(c, steps, steps_per_epoch=10, num_steps=0):
  tx = optim.make_optimizer(c, steps_per_epoch, num_steps)
  params = {"w": jnp.zeros(3)}
  state = tx.init(params)
  out = []
  for _ in range(steps):
    _, state = tx.update({"w": jnp.ones(3)}, state, params)
    out.append(optim.learning_rate(state))
  return np.array(out)


def test_zaremba_schedule_is_constant_then_decays_every_epoch():
  # TF PTB tutorial: lr_decay ** max(epoch + 1 - max_epoch, 0), epochs from 0.
  got = lrs(cfg(schedule="zaremba", learning_rate=1.0, decay=0.5, decay_after=4), 61)
  np.testing.assert_allclose(got[[0, 39, 40, 49, 50, 60]], [1, 1, 0.5, 0.5, 0.25, 0.125])


def test_warmup_cosine_uses_run_length_and_checks_it():
  got = lrs(cfg(name="adam", schedule="warmup_cosine", learning_rate=1.0, warmup_steps=5), 21,
            num_steps=20)
  np.testing.assert_allclose(got[[0, 5, 20]], [0.0, 1.0, 0.0], atol=1e-6)
  assert got[4] < got[5] and got[10] < got[5]
  with pytest.raises(ValueError, match="total_steps"):
    optim.make_optimizer(cfg(schedule="warmup_cosine", warmup_steps=10), 10, 10)


def test_clipping_then_sgd_update():
  c = cfg(schedule="constant", learning_rate=0.1, clip_norm=5.0)
  tx = optim.make_optimizer(c, 10)
  params = {"w": jnp.zeros(4)}
  g = {"w": jnp.full(4, 5.0)}  # norm 10 -> scaled to 5
  updates, _ = tx.update(g, tx.init(params), params)
  np.testing.assert_allclose(updates["w"], -0.1 * 2.5 * np.ones(4), rtol=1e-6)


def test_plateau_decay_and_errors():
  tx = optim.make_optimizer(cfg(schedule="plateau", learning_rate=0.4), 10)
  state = tx.init({"w": jnp.zeros(2)})
  state = optim.decay_learning_rate(state, 0.25)
  assert optim.learning_rate(state) == pytest.approx(0.1)
  with pytest.raises(ValueError, match="optimizer.name"):
    optim.make_optimizer(cfg(name="lamb"), 10)
  with pytest.raises(ValueError, match="optimizer.schedule"):
    optim.make_optimizer(cfg(schedule="exp"), 10)


def test_max_norm_holds_after_every_step_and_touches_only_its_module():
  """Kim's constraint: after each update every column of output/kernel has l2 norm <= 3, the
  columns already inside the ball and every other parameter get the plain update."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict(dict(
      name="sgd", learning_rate=1.0, momentum=0.0, weight_decay=0.0, clip_norm=0.0,
      schedule="constant", decay=0.5, decay_after=4, warmup_steps=0, total_steps=0))
  plain = optim.make_optimizer(c, 10)
  capped = optim.make_optimizer(c, 10, last=optim.max_norm(3.0, "output"))
  rng = np.random.default_rng(0)
  params = {"output": {"kernel": jnp.asarray(rng.normal(size=(6, 4)) * 0.1, jnp.float32),
                       "bias": jnp.zeros(4)},
            "hidden": {"kernel": jnp.asarray(rng.normal(size=(5, 6)), jnp.float32)}}
  state = capped.init(params)
  for step in range(5):
    grads = {"output": {"kernel": jnp.asarray(rng.normal(size=(6, 4)) * (step + 1), jnp.float32),
                        "bias": jnp.ones(4)},
             "hidden": {"kernel": jnp.ones((5, 6))}}
    grads["output"]["kernel"] = grads["output"]["kernel"].at[:, 0].set(0.0)  # stays inside
    want, _ = plain.update(grads, plain.init(params), params)
    updates, state = capped.update(grads, state, params)
    new = optax.apply_updates(params, updates)
    norms = np.linalg.norm(np.asarray(new["output"]["kernel"]), axis=0)
    assert np.all(norms <= 3.0 + 1e-5), norms
    free = np.asarray(params["output"]["kernel"] + want["output"]["kernel"])
    np.testing.assert_allclose(new["output"]["kernel"][:, 0], free[:, 0], rtol=1e-6)
    np.testing.assert_allclose(new["hidden"]["kernel"],
                               params["hidden"]["kernel"] + want["hidden"]["kernel"], rtol=1e-6)
    np.testing.assert_allclose(new["output"]["bias"], params["output"]["bias"] - 1.0, rtol=1e-6)
    params = new
  assert np.max(norms) == pytest.approx(3.0, rel=1e-5)  # the large steps hit the cap


def test_a_plateau_decay_holds_for_the_steps_after_it():
  """The decayed rate is the one the following updates use (constant and plateau schedules)."""
  for schedule in ("plateau", "constant"):
    tx = optim.make_optimizer(cfg(name="sgd", schedule=schedule, learning_rate=0.4,
                                  clip_norm=0.0), 10)
    params = {"w": jnp.zeros(2)}
    state = tx.init(params)
    _, state = tx.update({"w": jnp.ones(2)}, state, params)
    state = optim.decay_learning_rate(state, 0.25)
    for _ in range(3):
      updates, state = tx.update({"w": jnp.ones(2)}, state, params)
      np.testing.assert_allclose(updates["w"], [-0.1, -0.1], rtol=1e-6)
      assert optim.learning_rate(state) == pytest.approx(0.1)


def test_a_plateau_decay_with_a_schedule_is_refused():
  """A schedule recomputes the rate every step, so the decay would be undone one step later
  (this was silent: the log said "learning rate decayed")."""
  from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
  train = ml_collections.ConfigDict(dict(num_steps=10, plateau_factor=0.5, plateau_patience=1))
  for schedule in ("zaremba", "warmup_cosine"):
    with pytest.raises(ValueError, match=f"train.plateau_factor=0.5 cannot be combined with "
                                         f"optimizer.schedule='{schedule}'"):
      trainer.check_loop(train, cfg(schedule=schedule))
  trainer.check_loop(train, cfg(schedule="plateau"))
  trainer.check_loop(train, cfg(schedule="constant"))
  # and what it guards against: zaremba's schedule overwrites an injected decay at once
  tx = optim.make_optimizer(cfg(schedule="zaremba", learning_rate=1.0, decay_after=4), 10)
  params = {"w": jnp.zeros(2)}
  state = optim.decay_learning_rate(tx.init(params), 0.5)
  _, state = tx.update({"w": jnp.ones(2)}, state, params)
  assert optim.learning_rate(state) == pytest.approx(1.0)
