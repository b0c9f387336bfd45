"""Time-series data: windows never leak the future, the split and its origins, readers of the
raw formats (errors name the file and line), the packaged datasets as they really are, and
batches whose padding rows weigh nothing."""

import numpy as np
import pytest

from seqjax.data import registry, timeseries as tsd
from seqjax.data.epochs import ArrayBatches
from seqjax.data.timeseries import Split, parse_ts, windows
from tests.fakes.data import write_sunspots_like, write_ts_like


@pytest.mark.parametrize("n, test, valid, context, horizon", [
    (60, 12, 10, 5, 3), (100, 7, 20, 30, 7), (40, 1, 1, 1, 1), (300, 44, 44, 88, 11)])
def test_windows_never_leak_the_future(n, test, valid, context, horizon):
  y = np.random.default_rng(n).normal(size=n)
  split = Split.of(n, test_size=test, valid_size=valid)
  covered = {}
  for part in ("train", "validation", "test"):
    start, end = split.bounds(part)
    origins = split.origins(part, context, horizon)
    w = windows(y, origins, context, horizon)
    # the last input time precedes the first target time, in every window
    assert np.all(w["input_index"].max(axis=1) < w["target_index"].min(axis=1))
    assert np.all(w["input_index"][:, -1] == origins)
    assert np.all(w["target_index"][:, 0] == origins + 1)
    # targets stay inside their part; inputs never reach past the part's start... forward
    assert w["target_index"].min() >= start and w["target_index"].max() < end
    np.testing.assert_array_equal(w["inputs"], y[w["input_index"]])
    np.testing.assert_array_equal(w["targets"], y[w["target_index"]])
    covered[part] = set(w["target_index"].ravel().tolist())
  # training windows never see a validation or test value, as input or target
  train = split.origins("train", context, horizon)
  wt = windows(y, train, context, horizon)
  assert max(wt["input_index"].max(), wt["target_index"].max()) < split.train_end
  # every value of the test tail is forecast from some origin (rolling origin, step 1)
  assert covered["test"] == set(range(split.valid_end, n))


def test_split_errors_name_the_keys():
  with pytest.raises(ValueError, match="data.test_size=50 and data.valid_size=49 leave 1"):
    Split.of(100, test_size=50, valid_size=49)
  with pytest.raises(ValueError, match="the test part .* holds no window .*data.horizon"):
    Split.of(100, test_size=3, valid_size=10).origins("test", 5, 4)


def test_scaler_uses_the_training_part_only():
  y = np.arange(10.0)
  s = tsd.Scaler.fit(y[:6])
  assert (s.mean, s.std) == (2.5, pytest.approx(np.std(np.arange(6.0))))
  np.testing.assert_allclose(s.inverse(s.transform(y)), y)
  with pytest.raises(ValueError, match="constant"):
    tsd.Scaler.fit(np.ones(4))


def test_season_features():
  f = tsd.season_features(np.arange(8), 4)
  np.testing.assert_allclose(f[:, 0], [0, 1, 0, -1] * 2, atol=1e-6)
  np.testing.assert_allclose(f[0], f[4], atol=1e-6)
  assert tsd.season_features(np.arange(3), 1).shape == (3, 0)


def test_parse_ts_and_its_errors():
  xs, ys, header = parse_ts("# c\n@problemName x\n@dimensions 2\n@classLabel true a b\n"
                            "@data\n1,2,3:4,5,6:a\n7:8:b\n", "f.ts")
  assert [x.shape for x in xs] == [(3, 2), (1, 2)] and ys == ["a", "b"]
  assert header["problemname"] == "x"
  bad = [("@dimensions 2\n@data\n1,2:3:a\n", "f.ts:3: channels of unequal length"),
         ("@dimensions 2\n@data\n1,2:a\n", "f.ts:3: expected 2 channels and a label"),
         ("@dimensions 1\n@data\n1,?:a\n", "f.ts:3: missing values"),
         ("@dimensions 1\n@data\n1,x:a\n", "f.ts:3: 'x' is not a number"),
         ("@classLabel true a\n@data\n1:b\n", "case 1 has label 'b', not one of"),
         ("@data\n", "no cases"), ("1,2:a\n", "f.ts:1: a data line before @data")]
  for text, message in bad:
    with pytest.raises(ValueError, match=message):
      parse_ts(text, "f.ts")


def test_forecast_csv_errors_name_file_and_line(tmp_path):
  path = tmp_path / "sunspots.csv"
  path.write_text('"YEAR","SUNACTIVITY"\n1700,5\n1701,abc\n')
  with pytest.raises(ValueError, match=r"sunspots.csv:3: 'abc' is not a number"):
    tsd.read_forecast_series("sunspots", str(path))
  path.write_text('"YEAR","SUNACTIVITY"\n1700,5\n1699,6\n1702,7\n')
  with pytest.raises(ValueError, match="not increasing"):
    tsd.read_forecast_series("sunspots", str(path))


def test_co2_weeks_become_months_with_gaps_interpolated(tmp_path):
  rows = ["date,co2", "19580105,1.0", "19580112,3.0", "19580301,5.0", "19580308,", "19580405,7"]
  (tmp_path / "co2.csv").write_text("\n".join(rows) + "\n")
  times, values, filled = tsd.read_forecast_series("co2", str(tmp_path / "co2.csv"))
  np.testing.assert_allclose(values, [2.0, 3.5, 5.0, 7.0])  # February interpolated
  assert filled == 1 and np.allclose(np.diff(times), 1 / 12)


def test_prepared_from_a_manual_dir(tmp_path):
  values = np.linspace(1.0, 2.0, 30)
  write_sunspots_like(tmp_path / "raw", values)
  builder = registry.prepare("sunspots", kind=registry.FORECAST, data_dir=str(tmp_path / "tfds"),
                             manual_dir=str(tmp_path / "raw"))
  times, got, filled = tsd.load_series(builder)
  np.testing.assert_allclose(got, values)
  assert times[0] == 1700 and filled == 0
  write_ts_like(tmp_path / "ts", sizes=(9, 5))
  builder = registry.prepare("japanese_vowels", kind=registry.SERIES,
                             data_dir=str(tmp_path / "tfds"), manual_dir=str(tmp_path / "ts"))
  xs, ys = tsd.load_cases(builder, "test")
  assert len(xs) == 5 and all(x.shape[1] == 12 for x in xs)
  np.testing.assert_array_equal(ys, [0, 1, 2, 3, 4])


def test_the_packaged_datasets_as_they_are(tmp_path):
  pytest.importorskip("statsmodels")
  pytest.importorskip("sktime")
  sizes = {}
  for name in registry.names(registry.FORECAST):
    builder = registry.prepare(name, kind=registry.FORECAST, data_dir=str(tmp_path))
    times, values, filled = tsd.load_series(builder)
    sizes[name] = (len(values), round(float(times[0]), 2), filled)
  assert sizes == {"sunspots": (309, 1700.0, 0), "co2": (526, 1958.17, 5),
                   "elnino": (732, 1950.0, 0), "airline": (144, 1949.0, 0)}
  builder = registry.prepare("japanese_vowels", kind=registry.SERIES, data_dir=str(tmp_path))
  (train, train_y), (test, test_y) = (tsd.load_cases(builder, s) for s in ("train", "test"))
  assert (len(train), len(test)) == (270, 370)
  lengths = [len(x) for x in train + test]
  assert (min(lengths), max(lengths)) == (7, 29) and train[0].shape[1] == 12
  assert np.bincount(train_y).tolist() == [30] * 9


def test_array_batches_weigh_padding_rows_zero_and_resume():
  arrays = {"x": np.arange(7), "y": np.arange(7) * 10}
  b = ArrayBatches(arrays, 3, shuffle=True, seed=4)
  epoch = [next(iter(b)) for _ in range(3)]
  seen = np.concatenate([e["x"][e["weights"] > 0] for e in epoch])
  assert sorted(seen.tolist()) == list(range(7))
  assert all(np.array_equal(e["y"], e["x"] * 10) for e in epoch)
  state = b.get_state()
  following = next(iter(b))
  c = ArrayBatches(arrays, 3, shuffle=True, seed=4)
  c.set_state(state)
  np.testing.assert_array_equal(next(iter(c))["x"], following["x"])
  with pytest.raises(ValueError, match="equally long"):
    ArrayBatches({"x": np.arange(3), "y": np.arange(4)}, 2, shuffle=False)
