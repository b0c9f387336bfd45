"""Session data, session-parallel blocks, ranking metrics, the baselines and GRU4Rec's
in-sequence resets and candidate losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import recommend
from seqjax.data import recsys as data_lib
from seqjax.nn.recsys import GRU4Rec
from seqjax.nn.rnn import RNNSpec
from experiments.recsys import task as recsys_task

DAY = 86400.0


def test_diginetica_reader_orders_views_and_names_bad_lines(tmp_path):
  path = tmp_path / "views.csv"
  path.write_text("session_id;user_id;item_id;timeframe;eventdate\n"
                  "1;NA;30;500;2016-05-09\n1;NA;10;20;2016-05-09\n1;7;20;100;2016-05-10\n"
                  "2;NA;40;1;2016-05-11\n")
  events = data_lib.read_events(str(path), "diginetica")
  assert events[1][1] == [10, 20, 30]  # by timeframe
  assert events[1][0] == events[2][0] - DAY  # dated by the session's last line (SR-GNN)
  path.write_text("session_id;user_id;item_id;timeframe;eventdate\n1;NA;x;5;2016-05-09\n")
  with pytest.raises(ValueError, match=r"views.csv:2: session_id, item_id and timeframe"):
    data_lib.read_events(str(path), "diginetica")
  path.write_text("session_id;user_id;item_id;timeframe;eventdate\n1;NA;3;5\n")
  with pytest.raises(ValueError, match=r"views.csv:2: expected 5 ';'-separated fields; got 4"):
    data_lib.read_events(str(path), "diginetica")
  path.write_text("sid,item\n")
  with pytest.raises(ValueError, match="views.csv:1: expected the header"):
    data_lib.read_events(str(path), "diginetica")


def test_yoochoose_reader(tmp_path):
  path = tmp_path / "clicks.dat"
  path.write_text("1,2014-04-07T10:51:09.277Z,214536502,0\n1,2014-04-07T10:54:09.868Z,214536500,0\n"
                  "1,2014-04-07T10:50:00.000Z,214536506,0\n")
  (when, items), = data_lib.read_events(str(path), "yoochoose").values()
  assert items == [214536506, 214536502, 214536500]
  path.write_text("1,yesterday,214536502,0\n")
  with pytest.raises(ValueError, match="clicks.dat:1: .*timestamp ISO 8601"):
    data_lib.read_events(str(path), "yoochoose")


def test_preprocess_filters_and_splits_by_time():
  sessions = {1: (0.0, [1, 2, 1, 2]), 2: (DAY, [1, 2, 9]), 3: (2 * DAY, [5]),
              4: (9 * DAY, [2, 1, 7]), 5: (10 * DAY, [7, 8]), 6: (10 * DAY, [1, 2])}
  data = data_lib.preprocess(sessions, min_item_support=2, test_days=3)
  # item support: 1 x5, 2 x5, 7 x2; 9, 8 and 5 dropped; session 3 (one view) dropped
  assert data.item_ids.tolist() == [1, 2]  # 7 only occurs in test
  assert [s.tolist() for s in data.train] == [[0, 1, 0, 1], [0, 1]]
  assert [s.tolist() for s in data.test] == [[1, 0], [0, 1]]  # 7 unseen in train: removed
  assert data.popularity.tolist() == [3, 3]
  with pytest.raises(ValueError, match="data.min_item_support=9"):
    data_lib.preprocess(sessions, min_item_support=9)


def test_session_parallel_blocks_and_resume():
  rng = np.random.default_rng(0)
  sessions = [rng.integers(0, 50, rng.integers(2, 7)).astype(np.int32) for _ in range(40)]
  batches = data_lib.SessionParallel(sessions, 4, 3, shuffle=False)
  epoch = batches._epoch(0)  # pylint: disable=protected-access
  # Replaying every lane rebuilds exactly the sessions' transitions, each once.
  seen = []
  for lane in range(4):
    current = None
    for t in range(epoch["inputs"].shape[1]):
      if epoch["weights"][lane, t] == 0:
        assert epoch["resets"][lane, t]  # padding never carries state
        continue
      if epoch["resets"][lane, t]:
        current = []
        seen.append(current)
      current.append((epoch["inputs"][lane, t], epoch["targets"][lane, t]))
  want = [list(zip(s[:-1], s[1:])) for s in sessions]
  assert sorted(map(str, seen)) == sorted(map(str, want))
  assert epoch["inputs"].shape[1] % 3 == 0
  train = data_lib.SessionParallel(sessions, 4, 3, shuffle=True, seed=1)
  it = iter(train)
  blocks = [next(it) for _ in range(len(train) + 2)]
  other = data_lib.SessionParallel(sessions, 4, 3, shuffle=True, seed=1)
  other.set_state({"epoch": 0, "position": 3})
  it = iter(other)
  for want_block in blocks[3:]:
    got = next(it)
    for key in want_block:
      np.testing.assert_array_equal(got[key], want_block[key])


def test_ranks_and_metrics():
  scores = jnp.asarray([[0.1, 0.9, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0]])
  ranks = recommend.target_ranks(scores, jnp.asarray([2, 0]))
  np.testing.assert_allclose(ranks, [2.5, 2.5])  # ties at their middle
  got = recommend.recall_mrr(np.asarray([1.0, 3.0, 30.0, 20.0]), k=20)
  assert got["recall@20"] == 0.75
  assert got["mrr@20"] == pytest.approx((1 + 1 / 3 + 1 / 20) / 4)


def test_item_knn_is_session_cosine():
  sessions = [np.asarray(s) for s in ([0, 1, 2], [0, 1], [1, 3], [2, 2, 0])]
  knn = recommend.ItemKNN(sessions, 5, lam=1.0)
  sets = [set(s.tolist()) for s in sessions]
  for i in range(5):
    row = knn.scores(np.asarray([i]))[0]
    for j in range(5):
      both = sum(i in s and j in s for s in sets)
      n_i, n_j = sum(i in s for s in sets), sum(j in s for s in sets)
      want = 0.0 if i == j or both == 0 else both / (np.sqrt(n_i * n_j) + 1.0)
      assert row[j] == pytest.approx(want, rel=1e-6)
  np.testing.assert_array_equal(recommend.popularity_scores(sessions, 5), [3, 3, 3, 1, 0])


def test_gru4rec_resets_equal_running_sessions_separately():
  model = GRU4Rec(num_items=20, embed_size=6, rnn=RNNSpec(cell="gru", hidden_size=5))
  a, b = np.asarray([[3, 4, 5]]), np.asarray([[7, 8]])
  packed = np.concatenate([a, b], 1)
  resets = np.asarray([[True, False, False, True, False]])
  params = model.init(jax.random.PRNGKey(0), packed, resets)["params"]
  ys, _ = model.apply({"params": params}, packed, resets)
  ya, _ = model.apply({"params": params}, a, np.zeros_like(a, bool))
  yb, _ = model.apply({"params": params}, b, np.zeros_like(b, bool))
  np.testing.assert_allclose(ys, np.concatenate([ya, yb], 1), rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match=r"inputs and resets must both be \[B, T\]"):
    model.apply({"params": params}, packed, resets[:, :3])


def test_in_batch_and_sampled_candidates():
  rng = np.random.default_rng(1)
  params = {"output_items": jnp.asarray(rng.normal(size=(10, 4)), jnp.float32),
            "output_bias": jnp.asarray(rng.normal(size=10), jnp.float32)}
  hidden = jnp.asarray(rng.normal(size=(3, 2, 4)), jnp.float32)
  targets = jnp.asarray([[1, 2], [5, 2], [7, 0]])
  weights = jnp.asarray([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
  full = np.asarray(hidden @ params["output_items"].T + params["output_bias"][None, None])
  logits, labels = recsys_task.candidate_logits(params, hidden, targets, weights, "in_batch")
  logits, targets, weights = np.asarray(logits), np.asarray(targets), np.asarray(weights)
  np.testing.assert_array_equal(labels, [[0, 0], [1, 1], [2, 2]])
  for b in range(3):
    for t in range(2):
      for c in range(3):
        masked = c != b and (targets[c, t] == targets[b, t] or weights[c, t] == 0)
        want = -1e9 if masked else full[b, t, targets[c, t]]
        assert logits[b, t, c] == pytest.approx(want, rel=1e-5)
  samples = jnp.asarray([5, 9])
  logits, _ = recsys_task.candidate_logits(params, hidden, jnp.asarray(targets),
                                            jnp.asarray(weights), "sampled", samples)
  logits = np.asarray(logits)
  assert logits.shape == (3, 2, 5)
  assert logits[1, 0, 3] == -1e9  # the sample equals lane 1's target at step 0
  assert logits[0, 0, 4] == pytest.approx(full[0, 0, 9], rel=1e-5)
