"""Real-valued series: TFDS builders of public forecasting and classification datasets, the
training-part normalisation, and forecast windows with an explicit origin.

Datasets (registered in ``seqjax.data.registry``; the raw files are read from
``data.manual_dir`` when it is set, else from the maintained package that ships them, installed
by ``pip install -e ".[timeseries]"``; nothing is copied into seqjax):

- forecasting (kind ``FORECAST``, one series each): ``sunspots`` (yearly mean sunspot numbers
  1700-2008, statsmodels), ``co2`` (Mauna Loa CO2, weekly 1958-2001, statsmodels; averaged to
  months, a month without a reading interpolated), ``elnino`` (monthly Niño 1+2 sea surface
  temperature 1950-2010, statsmodels), ``airline`` (Box & Jenkins' monthly airline passengers
  1949-1960, sktime);
- classification (kind ``SERIES``, the UEA/UCR archive's train/test split, ``.ts`` files from
  sktime): ``japanese_vowels`` (9 speakers, 12 LPC cepstra, lengths 7-29),
  ``basic_motions`` (4 activities, 6 channels, length 100), ``italy_power_demand`` (2 seasons,
  univariate, length 24).

Forecast windows: the series is cut into a training part ``[0, train_end)``, a validation part
``[train_end, valid_end)`` and the test tail ``[valid_end, n)``. A window's origin ``o`` is
the index of its last observed value; its inputs are ``y[o - context + 1 .. o]`` and its
targets ``y[o + 1 .. o + horizon]``, all inside one part (inputs may reach back into earlier
parts: the past is known at forecast time). Origins roll by one step.

>>> y = np.arange(20.0)
>>> split = Split.of(len(y), test_size=5, valid_size=5)
>>> split
Split(n=20, train_end=10, valid_end=15)
>>> split.origins("test", context=3, horizon=2)
array([14, 15, 16, 17])
>>> w = windows(y, split.origins("validation", 3, 2), 3, 2)
>>> w["inputs"][0], w["targets"][0]
(array([7., 8., 9.]), array([10., 11.]))
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
import io
import os
from typing import Iterator, Optional, Sequence

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import registry
from seqjax.data.builders import local_paths, read_text

# ---- raw files ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SeriesSource:
  """Where a dataset's raw files are: their names (what ``data.manual_dir`` must hold) and
  the package directory that ships them."""
  files: dict
  package: str  # importable package whose directory holds the files
  extra: str  # the pip package to install
  url: str  # the canonical description of the data
  period: int = 1  # the seasonal period (forecasting)
  unit: str = ""
  description: str = ""
  # classification: the class labels of the archive's header, in order, and channels
  classes: tuple = ()
  dimensions: int = 1


FORECAST_SETS = {
    "sunspots": SeriesSource(
        {"series": "sunspots.csv"}, "statsmodels.datasets.sunspots", "statsmodels",
        "https://www.statsmodels.org/stable/datasets/generated/sunspots.html", period=11,
        unit="mean sunspot number", description="yearly sunspots 1700-2008 (period: the "
        "11-year solar cycle)"),
    "co2": SeriesSource(
        {"series": "co2.csv"}, "statsmodels.datasets.co2", "statsmodels",
        "https://www.statsmodels.org/stable/datasets/generated/co2.html", period=12,
        unit="ppm", description="Mauna Loa CO2, monthly means of weekly readings 1958-2001"),
    "elnino": SeriesSource(
        {"series": "elnino.csv"}, "statsmodels.datasets.elnino", "statsmodels",
        "https://www.statsmodels.org/stable/datasets/generated/elnino.html", period=12,
        unit="deg C", description="monthly Nino 1+2 sea surface temperature 1950-2010"),
    "airline": SeriesSource(
        {"series": "Airline.csv"}, "sktime.datasets.data.Airline", "sktime",
        "Box, Jenkins & Reinsel, Time Series Analysis (1976), series G", period=12,
        unit="thousand passengers", description="monthly airline passengers 1949-1960"),
}

CLASSIFICATION_SETS = {
    "japanese_vowels": SeriesSource(
        {"train": "JapaneseVowels_TRAIN.ts", "test": "JapaneseVowels_TEST.ts"},
        "sktime.datasets.data.JapaneseVowels", "sktime",
        "https://archive.ics.uci.edu/ml/datasets/Japanese+Vowels",
        classes=tuple(str(i) for i in range(1, 10)), dimensions=12,
        description="9 speakers from 12 LPC cepstra, lengths 7-29 (UEA archive)"),
    "basic_motions": SeriesSource(
        {"train": "BasicMotions_TRAIN.ts", "test": "BasicMotions_TEST.ts"},
        "sktime.datasets.data.BasicMotions", "sktime",
        "https://www.timeseriesclassification.com/description.php?Dataset=BasicMotions",
        classes=("Standing", "Running", "Walking", "Badminton"), dimensions=6,
        description="4 activities from a watch's accelerometer and gyroscope (UEA archive)"),
    "italy_power_demand": SeriesSource(
        {"train": "ItalyPowerDemand_TRAIN.ts", "test": "ItalyPowerDemand_TEST.ts"},
        "sktime.datasets.data.ItalyPowerDemand", "sktime",
        "https://www.timeseriesclassification.com/description.php?Dataset=ItalyPowerDemand",
        classes=("1", "2"), dimensions=1,
        description="winter vs summer days from 24 hourly loads (UCR archive)"),
}


def source(name: str) -> SeriesSource:
  return {**FORECAST_SETS, **CLASSIFICATION_SETS}[name]


def raw_paths(builder, dl_manager, name: str) -> dict[str, str]:
  """The raw files of ``name``: from ``data.manual_dir`` (or TFDS's manual directory), else
  from the installed package that ships them (``FileNotFoundError`` saying what to install
  or set)."""
  src = source(name)
  paths = local_paths(builder, dl_manager, src.files)
  if paths is not None:
    return paths
  try:
    root = importlib.resources.files(src.package)
  except ModuleNotFoundError:
    raise FileNotFoundError(
        f"the {name} data ships with the {src.extra} package, which is not installed: "
        f"pip install -e \".[timeseries]\", or set data.manual_dir to a directory holding "
        f"{sorted(src.files.values())}") from None
  out = {}
  for role, file in src.files.items():
    path = os.fspath(root / file)
    if not os.path.exists(path):
      raise FileNotFoundError(f"the installed {src.extra} has no {file} (looked in "
                              f"{os.path.dirname(path)}); set data.manual_dir")
    out[role] = path
  return out


def _number(text: str, where: str) -> float:
  try:
    return float(text)
  except ValueError:
    raise ValueError(f"{where}: {text!r} is not a number") from None


def _csv_rows(path: str) -> list[tuple[int, list[str]]]:
  rows = list(csv.reader(io.StringIO(read_text(path))))
  if len(rows) < 2:
    raise ValueError(f"{path}: no data rows")
  return [(n, r) for n, r in enumerate(rows, start=1) if r][1:]


def read_forecast_series(name: str, path: str) -> tuple[np.ndarray, np.ndarray, int]:
  """``(times, values, filled)`` of forecasting dataset ``name`` read from its raw CSV:
  times as decimal years, ``filled`` the number of missing values interpolated (``co2``'s
  months without a reading). A malformed row is a ``ValueError`` naming ``file:line``."""
  rows = _csv_rows(path)
  times, values, filled = [], [], 0
  if name in ("sunspots", "airline"):
    for n, row in rows:
      if len(row) != 2:
        raise ValueError(f"{path}:{n}: expected 2 columns; got {len(row)}")
      if name == "airline":
        year, _, month = row[0].partition("-")
        t = _number(year, f"{path}:{n}") + (_number(month, f"{path}:{n}") - 1) / 12
      else:
        t = _number(row[0], f"{path}:{n}")
      times.append(t)
      values.append(_number(row[1], f"{path}:{n}"))
  elif name == "elnino":
    for n, row in rows:
      if len(row) != 13:
        raise ValueError(f"{path}:{n}: expected YEAR and 12 months; got {len(row)} columns")
      year = _number(row[0], f"{path}:{n}")
      for m in range(12):
        times.append(year + m / 12)
        values.append(_number(row[1 + m], f"{path}:{n}"))
  elif name == "co2":
    months: dict[int, list[float]] = {}
    for n, row in rows:
      if len(row) != 2 or len(row[0]) != 8:
        raise ValueError(f"{path}:{n}: expected YYYYMMDD,value; got {row!r}")
      if not row[1].strip():
        continue  # a week without a reading
      key = int(_number(row[0][:4], f"{path}:{n}")) * 12 + int(_number(row[0][4:6],
                                                                       f"{path}:{n}")) - 1
      months.setdefault(key, []).append(_number(row[1], f"{path}:{n}"))
    first, last = min(months), max(months)
    grid = np.arange(first, last + 1)
    known = np.array([k in months for k in grid])
    means = np.array([np.mean(months[k]) if k in months else np.nan for k in grid])
    means[~known] = np.interp(grid[~known], grid[known], means[known])
    filled = int((~known).sum())
    times, values = list(grid / 12.0), list(means)
  else:
    raise ValueError(f"unknown forecasting dataset {name!r}")
  t, v = np.asarray(times, np.float64), np.asarray(values, np.float64)
  if len(v) < 3 or not np.all(np.diff(t) > 0):
    raise ValueError(f"{path}: the times are not increasing (or fewer than 3 values)")
  return t, v, filled


def parse_ts(text: str, where: str, *, classes: Optional[Sequence[str]] = None
             ) -> tuple[list[np.ndarray], list[str], dict]:
  """A UEA/UCR archive ``.ts`` file: ``(series [T_i, D] float64, labels, header)``. Each data
  line holds ``D`` channels separated by ``:`` (values by ``,``) and the class label last.
  Missing values (``?``), a wrong channel count, channels of unequal length or a label not in
  ``@classLabel`` (or ``classes``) are a ``ValueError`` naming ``where:line``.

  >>> text = "@dimensions 2\\n@classLabel true a b\\n@data\\n1,2:3,4:b\\n5:6:a\\n"
  >>> xs, ys, _ = parse_ts(text, "x.ts")
  >>> xs[0].tolist(), ys
  ([[1.0, 3.0], [2.0, 4.0]], ['b', 'a'])
  """
  header: dict = {}
  series, labels = [], []
  data = False
  for n, line in enumerate(text.splitlines(), start=1):
    line = line.strip()
    if not line or line.startswith("#"):
      continue
    if not data:
      if line.lower() == "@data":
        data = True
      elif line.startswith("@"):
        key, _, value = line[1:].partition(" ")
        header[key.lower()] = value.strip()
      else:
        raise ValueError(f"{where}:{n}: a data line before @data")
      continue
    parts = line.split(":")
    dims = int(header.get("dimensions", len(parts) - 1))
    if len(parts) != dims + 1:
      raise ValueError(f"{where}:{n}: expected {dims} channels and a label; got "
                       f"{len(parts)} ':'-separated fields")
    if "?" in line:
      raise ValueError(f"{where}:{n}: missing values ('?') are not supported")
    channels = [[_number(v, f"{where}:{n}") for v in p.split(",")] for p in parts[:-1]]
    if len({len(c) for c in channels}) != 1:
      raise ValueError(f"{where}:{n}: channels of unequal length "
                       f"{sorted({len(c) for c in channels})}")
    series.append(np.asarray(channels, np.float64).T)
    labels.append(parts[-1].strip())
  allowed = list(classes) if classes is not None else None
  if allowed is None and "classlabel" in header:
    allowed = header["classlabel"].split()[1:]
  if allowed is not None:
    for i, label in enumerate(labels):
      if label not in allowed:
        raise ValueError(f"{where}: case {i + 1} has label {label!r}, not one of {allowed}")
  if not series:
    raise ValueError(f"{where}: no cases after @data")
  return series, labels, header


# ---- TFDS builders --------------------------------------------------------------------------


class SeqjaxForecastSeries(tfds.core.GeneratorBasedBuilder):
  """One real-valued series per dataset (split ``series``), in time order."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n, description=s.description)
                     for n, s in FORECAST_SETS.items()]
  MANUAL_DOWNLOAD_INSTRUCTIONS = "Optional: a directory holding the dataset's CSV file."

  def _info(self):
    features = dict(times=tfds.features.Tensor(shape=(None,), dtype=np.float64),
                    values=tfds.features.Tensor(shape=(None,), dtype=np.float64),
                    filled=tfds.features.Scalar(np.int64))
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features),
                                 disable_shuffling=True,
                                 homepage=FORECAST_SETS[self.builder_config.name].url)

  def _split_generators(self, dl_manager):
    name = self.builder_config.name
    path = raw_paths(self, dl_manager, name)["series"]
    return {"series": self._generate_examples(name, path)}

  def _generate_examples(self, name: str, path: str) -> Iterator[tuple[int, dict]]:
    times, values, filled = read_forecast_series(name, path)
    yield 0, {"times": times, "values": values, "filled": filled}


class SeqjaxSeriesClassification(tfds.core.GeneratorBasedBuilder):
  """The archive's train and test cases: ``values [T, D]``, ``length``, ``label``."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n, description=s.description)
                     for n, s in CLASSIFICATION_SETS.items()]
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Optional: a directory holding the archive's <Name>_TRAIN.ts "
                                  "and <Name>_TEST.ts.")

  def _info(self):
    src = CLASSIFICATION_SETS[self.builder_config.name]
    features = dict(index=tfds.features.Scalar(np.int64),
                    values=tfds.features.Tensor(shape=(None, src.dimensions), dtype=np.float32),
                    length=tfds.features.Scalar(np.int64),
                    label=tfds.features.ClassLabel(names=list(src.classes)))
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features),
                                 disable_shuffling=True, homepage=src.url)

  def _split_generators(self, dl_manager):
    name = self.builder_config.name
    paths = raw_paths(self, dl_manager, name)
    return {split: self._generate_examples(name, paths[split]) for split in ("train", "test")}

  def _generate_examples(self, name: str, path: str) -> Iterator[tuple[int, dict]]:
    src = CLASSIFICATION_SETS[name]
    series, labels, _ = parse_ts(read_text(path), path, classes=src.classes)
    for i, (x, label) in enumerate(zip(series, labels)):
      if x.shape[1] != src.dimensions:
        raise ValueError(f"{path}: case {i + 1} has {x.shape[1]} channels; {name} has "
                         f"{src.dimensions}")
      yield i, {"index": i, "values": x.astype(np.float32), "length": len(x), "label": label}


for _name, _src in FORECAST_SETS.items():
  registry.register(registry.DatasetSpec(_name, registry.FORECAST, SeqjaxForecastSeries, _name,
                                        _src.files, description=_src.description))
for _name, _src in CLASSIFICATION_SETS.items():
  registry.register(registry.DatasetSpec(
      _name, registry.SERIES, SeqjaxSeriesClassification, _name, _src.files,
      num_classes=len(_src.classes), description=_src.description))


def _examples(builder, split: str) -> list[dict]:
  import grain  # pylint: disable=g-import-not-at-top
  return list(grain.MapDataset.source(builder.as_data_source(split=split)))


def load_series(builder) -> tuple[np.ndarray, np.ndarray, int]:
  """``(times, values, filled)`` of a prepared ``SeqjaxForecastSeries``."""
  (e,) = _examples(builder, "series")
  return (np.asarray(e["times"], np.float64), np.asarray(e["values"], np.float64),
          int(e["filled"]))


def load_cases(builder, split: str) -> tuple[list[np.ndarray], np.ndarray]:
  """``(series [T_i, D] float32, label ids)`` of one split of a prepared
  ``SeqjaxSeriesClassification``, in file order."""
  es = sorted(_examples(builder, split), key=lambda e: int(e["index"]))
  xs = [np.asarray(e["values"], np.float32)[:int(e["length"])] for e in es]
  return xs, np.asarray([int(e["label"]) for e in es], np.int32)


# ---- splits, normalisation, windows ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Split:
  """Training ``[0, train_end)``, validation ``[train_end, valid_end)``, test
  ``[valid_end, n)`` of one series."""
  n: int
  train_end: int
  valid_end: int

  @classmethod
  def of(cls, n: int, *, test_size: int, valid_size: int) -> "Split":
    if test_size < 1 or valid_size < 0 or n - test_size - valid_size < 2:
      raise ValueError(f"data.test_size={test_size} and data.valid_size={valid_size} leave "
                       f"{n - test_size - valid_size} of {n} values for training")
    return cls(n, n - test_size - valid_size, n - test_size)

  def bounds(self, part: str) -> tuple[int, int]:
    """``[start, end)`` of the values part ``part`` predicts."""
    return {"train": (0, self.train_end), "validation": (self.train_end, self.valid_end),
            "test": (self.valid_end, self.n)}[part]

  def origins(self, part: str, context: int, horizon: int) -> np.ndarray:
    """Every origin whose ``horizon`` targets lie inside ``part`` and whose ``context`` inputs
    exist (``ValueError`` naming the part when there is none)."""
    start, end = self.bounds(part)
    first = max(context - 1, start - 1)
    out = np.arange(first, end - horizon, dtype=np.int64)
    if not len(out):
      raise ValueError(f"the {part} part [{start}, {end}) holds no window of context "
                       f"{context} and horizon {horizon} (data.context, data.horizon, "
                       "data.test_size, data.valid_size)")
    return out


@dataclasses.dataclass(frozen=True)
class Scaler:
  """Standardisation with the mean and standard deviation of the training part only."""
  mean: float
  std: float

  @classmethod
  def fit(cls, train: np.ndarray) -> "Scaler":
    train = np.asarray(train, np.float64)
    std = float(np.std(train))
    if not std > 0:
      raise ValueError("the training part is constant: cannot standardise it")
    return cls(float(np.mean(train)), std)

  def transform(self, y: np.ndarray) -> np.ndarray:
    return (np.asarray(y, np.float64) - self.mean) / self.std

  def inverse(self, z: np.ndarray) -> np.ndarray:
    return np.asarray(z, np.float64) * self.std + self.mean


def season_features(index: np.ndarray, period: int) -> np.ndarray:
  """``[..., 2]``: ``sin`` and ``cos`` of ``2 pi index / period`` (``[..., 0]`` when
  ``period <= 1``): the position in the season, known for future steps too."""
  index = np.asarray(index, np.float64)
  if period <= 1:
    return np.zeros(index.shape + (0,), np.float32)
  angle = 2.0 * np.pi * index / period
  return np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)


def windows(z: np.ndarray, origins: Sequence[int], context: int, horizon: int) -> dict:
  """``{"inputs" [N, context], "targets" [N, horizon], "origins" [N]}`` of series ``z``."""
  z = np.asarray(z)
  origins = np.asarray(origins, np.int64)
  if origins.min() < context - 1 or origins.max() + horizon >= len(z):
    raise ValueError(f"windows: origins [{origins.min()}, {origins.max()}] do not fit context "
                     f"{context} and horizon {horizon} in {len(z)} values")
  past = origins[:, None] - np.arange(context - 1, -1, -1)[None, :]
  future = origins[:, None] + np.arange(1, horizon + 1)[None, :]
  return {"inputs": z[past], "targets": z[future], "origins": origins, "input_index": past,
          "target_index": future}


def pad_cases(xs: Sequence[np.ndarray], length: Optional[int] = None) -> tuple[np.ndarray,
                                                                              np.ndarray]:
  """Variable-length cases ``[T_i, D]`` as ``([n, T, D] zero-padded, lengths [n])``."""
  lengths = np.asarray([len(x) for x in xs], np.int32)
  t = int(length or lengths.max())
  if lengths.max() > t:
    raise ValueError(f"pad_cases: a case of {lengths.max()} steps exceeds {t}")
  out = np.zeros((len(xs), t, xs[0].shape[1]), np.float32)
  for i, x in enumerate(xs):
    out[i, :len(x)] = x
  return out, lengths
