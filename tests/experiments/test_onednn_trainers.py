"""The trainers end to end on the oneDNN back end (``seqjax.recurrence.onednn``), where the
extension is built: the same losses, step by step, as on the fused scan."""

import numpy as np
import pytest

from seqjax.recurrence import onednn

WHY = onednn.unavailable_reason()
needs_onednn = pytest.mark.skipif(WHY is not None, reason=f"oneDNN back end not built: {WHY}")



@needs_onednn
@pytest.mark.parametrize("experiment", ["lm", "sentiment"])
def test_trainers_run_on_onednn_with_the_fused_paths_numbers(experiment, request, tmp_path):
  """The LM (2-layer LSTM, truncated BPTT carries) and the classifier (a BiLSTM over ragged
  batches) train on oneDNN with the same loss, step by step, as on the fused scan."""
  from seqjax.train.trainer import train_and_evaluate  # pylint: disable=g-import-not-at-top
  from seqjax.train.writer import read_metrics  # pylint: disable=g-import-not-at-top
  if experiment == "lm":
    from experiments.lm.configs import tiny  # pylint: disable=g-import-not-at-top
    from experiments.lm.task import TASK  # pylint: disable=g-import-not-at-top
    data = request.getfixturevalue("ptb_like")
  else:
    from experiments.sentiment.configs import tiny  # pylint: disable=g-import-not-at-top
    from experiments.sentiment.task import TASK  # pylint: disable=g-import-not-at-top
    data = request.getfixturevalue("sst2_like")
  losses = {}
  for backend in ("onednn", "fused"):
    c = tiny.get_config()
    c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
    c.model.rnn.backend = backend
    c.train.num_steps, c.train.log_every, c.train.eval_every = 12, 1, 1000
    c.train.checkpoint_every, c.train.test_at_end = 1000, False
    if experiment == "lm":
      c.sample.length = 0
    train_and_evaluate(TASK, c, str(tmp_path / backend), log=lambda _: None)
    losses[backend] = [m["loss"] for m in read_metrics(str(tmp_path / backend))
                       if m["split"] == "train"]
  assert len(losses["onednn"]) == 12
  np.testing.assert_allclose(losses["onednn"], losses["fused"], rtol=2e-4)
  assert np.mean(losses["onednn"][-3:]) < np.mean(losses["onednn"][:3])
