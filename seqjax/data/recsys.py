"""Session-based recommendation data: click logs read into sessions, the SR-GNN / GRU4Rec
preprocessing and time split, and session-parallel mini-batches (Hidasi et al. 2016).

Raw formats (``read_events``; a malformed line raises ``ValueError`` naming ``file:line``):

- DIGINETICA (CIKM Cup 2016) ``train-item-views.csv`` (or SR-GNN's
  ``sample_train-item-views.csv``): ``;``-separated with the header
  ``session_id;user_id;item_id;timeframe;eventdate``; ``timeframe`` orders the views inside a
  session, ``eventdate`` (``YYYY-MM-DD``) dates it.
- YOOCHOOSE (RecSys Challenge 2015) ``yoochoose-clicks.dat``: ``session_id,timestamp,item_id,
  category`` with an ISO timestamp, no header.

The TFDS builder ``seqjax_sessions/{diginetica,diginetica_sample,yoochoose}`` turns a log into
one example per session ``{"session_id", "time", "items"}`` (views in order; ``time`` in seconds,
the session's last event as SR-GNN dates it). Both datasets are behind registration forms, so
the builder reads a local directory only.

``preprocess`` follows SR-GNN's ``preprocess.py``: drop sessions of one view, drop items seen
fewer than ``min_item_support`` times, drop the sessions left with fewer than 2 views; the
sessions of the last ``test_days`` days (7 for DIGINETICA, 1 for YOOCHOOSE) are the test set,
restricted to items seen in training (sessions left with fewer than 2 views dropped). Every
prefix of a test session predicts its next item.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import os
from typing import Any, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import registry
from seqjax.data.builders import local_paths
from seqjax.data.epochs import EpochBatches

FORMATS = ("diginetica", "yoochoose")
FILES = {"diginetica": "train-item-views.csv", "diginetica_sample": "sample_train-item-views.csv",
         "yoochoose": "yoochoose-clicks.dat"}


def read_events(path: str, fmt: str) -> dict[int, tuple[float, list[int]]]:
  """``{session_id: (time, items in order)}`` of a raw log (see the module docstring)."""
  if fmt not in FORMATS:
    raise ValueError(f"data format must be one of {list(FORMATS)}; got {fmt!r}")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path!r} is not a file")
  views: dict[int, list[tuple[Any, int]]] = collections.defaultdict(list)
  times: dict[int, float] = {}
  from seqjax.data.builders import iter_lines  # pylint: disable=g-import-not-at-top
  for n, line in enumerate(iter_lines(path), start=1):
    if not line:
      continue
    if fmt == "diginetica":
      if n == 1:
        if line.split(";")[:5] != ["session_id", "user_id", "item_id", "timeframe",
                                   "eventdate"]:
          raise ValueError(f"{path}:1: expected the header session_id;user_id;item_id;"
                           "timeframe;eventdate")
        continue
      fields = line.split(";")
      if len(fields) != 5:
        raise ValueError(f"{path}:{n}: expected 5 ';'-separated fields; got {len(fields)}")
      try:
        session, item, order = int(fields[0]), int(fields[2]), int(fields[3])
        when = datetime.datetime.strptime(fields[4], "%Y-%m-%d").replace(
            tzinfo=datetime.timezone.utc).timestamp()
      except ValueError:
        raise ValueError(f"{path}:{n}: session_id, item_id and timeframe must be integers "
                         f"and eventdate YYYY-MM-DD; got {line!r}") from None
    else:
      fields = line.split(",")
      if len(fields) != 4:
        raise ValueError(f"{path}:{n}: expected 4 ','-separated fields; got {len(fields)}")
      try:
        session, item = int(fields[0]), int(fields[2])
        when = datetime.datetime.fromisoformat(fields[1].replace("Z", "+00:00")).timestamp()
      except ValueError:
        raise ValueError(f"{path}:{n}: session_id and item_id must be integers and the "
                         f"timestamp ISO 8601; got {line!r}") from None
      order = when
    views[session].append((order, item))
    times[session] = when  # SR-GNN: the date of the session's last line
  if not views:
    raise ValueError(f"{path}: no events")
  return {s: (times[s], [i for _, i in sorted(v, key=lambda x: x[0])]) for s, v in views.items()}


class SeqjaxSessions(tfds.core.GeneratorBasedBuilder):
  """Click sessions of DIGINETICA or YOOCHOOSE, one example per session."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name) for name in FILES]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "A directory holding train-item-views.csv (DIGINETICA, CIKM Cup 2016), "
      "sample_train-item-views.csv (SR-GNN's sample, ../shared/data/diginetica_sample) or "
      "yoochoose-clicks.dat (RecSys Challenge 2015); .gz copies accepted.")

  def _info(self):
    features = dict(session_id=tfds.features.Scalar(np.int64),
                    time=tfds.features.Scalar(np.float64),
                    items=tfds.features.Sequence(tfds.features.Scalar(np.int64)))
    return tfds.core.DatasetInfo(builder=self, description="Session-based recommendation logs",
                                 features=tfds.features.FeaturesDict(features),
                                 disable_shuffling=True)

  def _split_generators(self, dl_manager):
    name = self.builder_config.name
    paths = local_paths(self, dl_manager, {"log": FILES[name]})
    if paths is None:
      raise FileNotFoundError(f"{FILES[name]} needs a local copy (registration required): "
                              "set data.manual_dir")
    fmt = "yoochoose" if name == "yoochoose" else "diginetica"
    return {"train": self._generate_examples(read_events(paths["log"], fmt))}

  def _generate_examples(self, sessions) -> Iterator[tuple[int, dict]]:
    for session, (when, items) in sorted(sessions.items()):
      yield session, {"session_id": session, "time": when, "items": items}


for _name in FILES:
  registry.register(registry.DatasetSpec(_name, registry.SESSIONS, SeqjaxSessions, _name,
                                        {"log": FILES[_name]},
                                        description=f"{_name} click sessions"))


@dataclasses.dataclass
class SessionData:
  """``item_ids`` (the raw id of every item index), ``train``/``test`` (item-index arrays, one
  per session, in time order, with their times ``train_times``/``test_times``) and
  ``popularity`` (training views per item)."""
  item_ids: np.ndarray
  train: list[np.ndarray]
  test: list[np.ndarray]
  train_times: np.ndarray
  test_times: np.ndarray
  popularity: np.ndarray
  split_time: float

  @property
  def num_items(self) -> int:
    return len(self.item_ids)


def read_sessions(builder) -> dict[int, tuple[float, list[int]]]:
  """The sessions of a prepared ``SeqjaxSessions`` builder, read through grain."""
  import grain  # pylint: disable=g-import-not-at-top
  source = builder.as_data_source(split="train")
  return {int(e["session_id"]): (float(e["time"]), [int(i) for i in e["items"]])
          for e in grain.MapDataset.source(source)}


def preprocess(sessions: dict[int, tuple[float, Sequence[int]]], *, min_item_support: int = 5,
               test_days: float = 7.0, item_ids: Sequence[int] | None = None) -> SessionData:
  """SR-GNN's filtering and time split (module docstring). ``item_ids`` fixes the item
  indexing (a saved run's); by default items are indexed by first appearance in training."""
  kept = {s: (t, list(v)) for s, (t, v) in sessions.items() if len(v) > 1}
  support = collections.Counter(i for _, v in kept.values() for i in v)
  kept = {s: (t, [i for i in v if support[i] >= min_item_support]) for s, (t, v) in kept.items()}
  kept = {s: tv for s, tv in kept.items() if len(tv[1]) >= 2}
  if not kept:
    raise ValueError(f"no session keeps 2 views after removing items seen fewer than "
                     f"data.min_item_support={min_item_support} times")
  split_time = max(t for t, _ in kept.values()) - test_days * 86400.0
  order = sorted(kept, key=lambda s: (kept[s][0], s))
  train = [kept[s] for s in order if kept[s][0] <= split_time]
  test = [kept[s] for s in order if kept[s][0] > split_time]
  if not train or not test:
    raise ValueError(f"data.test_days={test_days} leaves {len(train)} training and "
                     f"{len(test)} test sessions")
  if item_ids is None:
    item_ids = list(dict.fromkeys(i for _, v in train for i in v))
  index = {int(item): k for k, item in enumerate(item_ids)}

  def encode(part):
    pairs = [(t, np.asarray([index[i] for i in v if i in index], np.int32)) for t, v in part]
    pairs = [(t, v) for t, v in pairs if len(v) >= 2]
    return [v for _, v in pairs], np.asarray([t for t, _ in pairs], np.float64)

  (train_ids, train_times), (test_ids, test_times) = encode(train), encode(test)
  if not test_ids:
    raise ValueError("no test session keeps 2 items seen in training")
  popularity = np.bincount(np.concatenate(train_ids), minlength=len(item_ids))
  return SessionData(item_ids=np.asarray(item_ids, np.int64), train=train_ids, test=test_ids,
                     train_times=train_times, test_times=test_times, popularity=popularity,
                     split_time=split_time)


def lanes(sessions: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
  """Session-parallel assignment: sessions in order, each to the lane that frees first (ties:
  the lowest lane), as GRU4Rec fills a finished lane with the next session."""
  free = np.zeros(batch_size, np.int64)
  out: list[list[int]] = [[] for _ in range(batch_size)]
  for k, s in enumerate(sessions):
    lane = int(np.argmin(free))
    out[lane].append(k)
    free[lane] += len(s) - 1
  return out


class SessionParallel(EpochBatches):
  """Session-parallel mini-batches in blocks of ``block`` steps, epoch after epoch.

  Each of the ``batch_size`` lanes plays its sessions one after another (``lanes``); at every
  step a lane's input is the current item and its target the next one, and ``resets [B, T]`` is
  True where a lane starts a new session (the recurrent state is zeroed there by
  ``seqjax.unroll``'s in-sequence reset). A lane that has run out of sessions is padding with
  weight 0. A block is ``{"inputs", "targets", "resets" [B, T], "weights" [B, T]}``; the carry
  flows from one block to the next. Training (``shuffle``) permutes the sessions with seed
  ``(seed, epoch)``; evaluation keeps time order. The position is one JSON-able dict.
  """

  def __init__(self, sessions: Sequence[np.ndarray], batch_size: int, block: int, *,
               shuffle: bool, seed: int = 0):
    for key, value in (("train.batch_size", batch_size), ("train.block", block)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive int; got {value!r}")
    if any(len(s) < 2 for s in sessions):
      raise ValueError("SessionParallel: every session needs at least 2 items")
    if shuffle and len(sessions) < batch_size:
      raise ValueError(f"SessionParallel: {len(sessions)} sessions are fewer than "
                       f"train.batch_size={batch_size}")
    self.sessions, self.batch_size, self.block = list(sessions), batch_size, block
    self.shuffle, self.seed = shuffle, seed
    self.epoch, self.position = 0, 0
    self._cache: tuple[int, dict[str, np.ndarray]] | None = None

  def _epoch(self, epoch: int) -> dict[str, np.ndarray]:
    if self._cache is not None and self._cache[0] == epoch:
      return self._cache[1]
    order = np.arange(len(self.sessions))
    if self.shuffle:
      order = np.random.default_rng([self.seed, epoch]).permutation(len(self.sessions))
    sessions = [self.sessions[k] for k in order]
    assignment = lanes(sessions, self.batch_size)
    steps = max(sum(len(sessions[k]) - 1 for k in lane) for lane in assignment)
    steps = -(-steps // self.block) * self.block
    b = self.batch_size
    out = {"inputs": np.zeros((b, steps), np.int32), "targets": np.zeros((b, steps), np.int32),
           "resets": np.zeros((b, steps), bool), "weights": np.zeros((b, steps), np.float32)}
    for row, lane in enumerate(assignment):
      t = 0
      for k in lane:
        s = sessions[k]
        n = len(s) - 1
        out["inputs"][row, t:t + n] = s[:-1]
        out["targets"][row, t:t + n] = s[1:]
        out["resets"][row, t] = True
        out["weights"][row, t:t + n] = 1.0
        t += n
      out["resets"][row, t:] = True  # padding never carries a session's state
    self._cache = (epoch, out)
    return out

  def num_batches(self, epoch: int) -> int:
    """Blocks in ``epoch``."""
    return self._epoch(epoch)["inputs"].shape[1] // self.block

  def batch(self, epoch: int, k: int) -> dict[str, np.ndarray]:
    part = slice(k * self.block, (k + 1) * self.block)
    return {key: v[:, part] for key, v in self._epoch(epoch).items()}


def next_item_examples(sessions: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
  """Every prefix of every session and the item that follows it (evaluation examples)."""
  prefixes, targets = [], []
  for s in sessions:
    for t in range(1, len(s)):
      prefixes.append(s[:t])
      targets.append(s[t])
  return prefixes, np.asarray(targets, np.int32)
