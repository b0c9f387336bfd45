"""The sentiment task's parts through the one trainer: loss, accuracy and confusion matrix
against NumPy; filler rows."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seqjax.data import sentiment as data_lib
from seqjax.nn import sentiment as models
from experiments.sentiment.configs import tiny
from experiments.sentiment.task import TASK
from seqjax.train import optim, trainer
from seqjax.train.loop import LoopOptions
from seqjax.train.state import TrainState
from seqjax.train.task import Data
from tests.experiments import harness


def _model_and_batches():
  model = models.BagOfWords(num_classes=3, vocab_size=20, embed_size=6)
  rng = np.random.default_rng(0)
  split = data_lib.Split(ids=[rng.integers(4, 20, rng.integers(1, 9)).astype(np.int32)
                              for _ in range(23)],
                         labels=rng.integers(0, 3, 23).astype(np.int32))
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 4), jnp.int32),
                      jnp.array([4]))["params"]
  return model, params, split


def test_evaluate_matches_numpy_and_ignores_filler_rows():
  model, params, split = _model_and_batches()
  batches = data_lib.text_batches(split, 5, shuffle=False, pad_multiple=1)  # 5 batches, 2 filler rows
  config = tiny.get_config()
  config.train.eval_batch_size = 5
  data = Data(train=None, evals={"test": batches}, meta={}, steps_per_epoch=1, example={})
  result = harness.evaluate(TASK, config, data, model, params, "test")
  nll, confusion = [], np.zeros((3, 3), int)
  for ids, label in zip(split.ids, split.labels):
    logits = np.asarray(model.apply({"params": params}, jnp.asarray(ids[None]),
                                    jnp.array([len(ids)])))[0].astype(np.float64)
    logp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    nll.append(-logp[label])
    confusion[label, logits.argmax()] += 1
  assert result["count"] == 23
  np.testing.assert_allclose(result["loss"], np.mean(nll), rtol=1e-5)
  assert result["confusion"] == confusion.tolist()
  assert result["accuracy"] == pytest.approx(np.trace(confusion) / 23)


def test_train_step_loss_is_the_mean_over_real_rows_and_decreases():
  model, params, split = _model_and_batches()
  cfg = type("Cfg", (), dict(name="adam", learning_rate=0.05, momentum=0.0, weight_decay=0.0,
                             clip_norm=1.0, schedule="constant"))
  tx = optim.make_optimizer(cfg, 1, 1)
  state = TrainState(step=jnp.asarray(0), params=params, opt_state=tx.init(params),
                     key=jax.random.PRNGKey(0))
  config = tiny.get_config()
  config.optimizer.clip_norm = 1.0
  step = jax.jit(trainer.make_train_step(TASK, model, tx, config))
  batch = data_lib.pad_batch(split.ids[:6], split.labels[:6], batch_size=8)
  logits = model.apply({"params": params}, batch["tokens"], batch["lengths"])
  expected = optax.softmax_cross_entropy_with_integer_labels(logits[:6],
                                                             batch["labels"][:6]).mean()
  losses = []
  for _ in range(30):
    state, metrics = step(state, batch)
    losses.append(float(metrics["loss"]))
  assert losses[0] == pytest.approx(float(expected), rel=1e-5)
  assert losses[-1] < 0.3 * losses[0]
  assert float(metrics["accuracy"]) == 1.0


def test_loop_options_best_mode():
  assert LoopOptions(num_steps=1, steps_per_epoch=1, best_metric="accuracy",
                     best_mode="max").best_mode == "max"
  with pytest.raises(ValueError, match="best_mode must be 'min' or 'max'"):
    LoopOptions(num_steps=1, steps_per_epoch=1, best_mode="highest")
