"""Every key a time-series config may set, with defaults: ``config.task`` picks forecasting
(``"forecast"``) or classification (``"classify"``); each has its own sections. Configs start
from ``forecast_config()`` or ``classify_config()``."""

import ml_collections

from experiments import common
from seqjax.data import registry
from seqjax.nn.timeseries import HEADS, MODES, POOLS
from seqjax.train import config as checks

SCALINGS = ("global", "last")


def _train_section() -> ml_collections.ConfigDict:
  """``config.train`` of both tasks."""
  t = common.loop_section(num_epochs=100, log_every=50, checkpoint_every=500, keep_checkpoints=2)
  t.batch_size = 32
  t.eval_batch_size = 256
  return t


def forecast_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "forecast"
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "sunspots"  # sunspots | co2 | elnino | airline
  c.data.manual_dir = ""  # a directory holding the raw CSV; "" reads the installed package
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.test_size = 48  # the held-out tail (values)
  c.data.valid_size = 48  # the values before it that pick the checkpoint
  c.data.context = 48  # observed values per window
  c.data.horizon = 12  # values forecast from each origin
  c.data.season = 0  # seasonal period (seasonal naive, MASE, features); 0: the dataset's
  c.data.season_features = True  # sin/cos of the position in the season as inputs
  c.data.log = False  # model log(y) (multiplicative seasonality); metrics stay in y's units
  c.data.scaling = "last"  # global: (y - mean) / std of training; last: also minus the
  #                          window's last observed value (the model predicts changes)

  c.model = ml_collections.ConfigDict()
  c.model.mode = "direct"  # recursive (seq-to-one) | direct (multi-step) | seq2seq
  c.model.head = "gaussian"  # gaussian (NLL, intervals) | mse | mae
  c.model.input_size = 16  # linear input projection; 0: raw features into the RNN
  c.model.dropout_rate = 0.0
  c.model.rnn = common.rnn_section(cell="lstm", hidden_size=64)
  c.train = _train_section()

  c.baselines = ml_collections.ConfigDict()
  c.baselines.arima = True  # (S)ARIMA by maximum likelihood, order by AIC
  c.baselines.arima_d = 0  # differencing of the AIC search
  c.baselines.arima_max_p = 3
  c.baselines.arima_max_q = 2
  c.baselines.seasonal_order = (0, 0, 0)  # (P, D, Q) at data.season
  c.baselines.ets = True  # ETS(A, Ad/A/N, A/N), trend variant by AIC
  c.baselines.ets_trend = True

  c.report = ml_collections.ConfigDict()
  c.report.plot = True  # workdir/forecast.png
  c.report.interval = 0.95  # the Gaussian head's central interval in the plot

  c.optimizer = common.optimizer_section(name="adam", learning_rate=3e-3, clip_norm=1.0)
  return c


def classify_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "classify"
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "japanese_vowels"  # japanese_vowels | basic_motions | italy_power_demand
  c.data.manual_dir = ""  # a directory holding <Name>_TRAIN.ts and <Name>_TEST.ts
  c.data.data_dir = ""
  c.data.valid_fraction = 0.1  # of the training cases (stratified), picks the checkpoint;
  #                              0: none, the last checkpoint is reported
  c.data.normalize = True  # per-channel mean/std of the training steps

  c.model = ml_collections.ConfigDict()
  c.model.input_size = 0  # linear input projection; 0: channels straight into the RNN
  c.model.pool = "last"  # last | mean | max over the real steps
  c.model.hidden_sizes = ()  # MLP layers before the output
  c.model.dropout_rate = 0.0
  c.model.rnn = common.rnn_section(cell="lstm", hidden_size=64)
  c.train = _train_section()

  c.baselines = ml_collections.ConfigDict()
  c.baselines.dtw = True  # 1-NN with dependent DTW on the (normalised) training cases

  c.optimizer = common.optimizer_section(name="adam", learning_rate=3e-3, clip_norm=1.0)
  return c


def get_config() -> ml_collections.ConfigDict:
  """The forecasting defaults (``classify_config()`` holds the classification ones)."""
  return forecast_config()


FORECAST_CHECKS = {
    "data.name": checks.one_of(registry.names(registry.FORECAST)),
    "data.test_size": checks.positive_int, "data.valid_size": checks.positive_int,
    "data.context": checks.positive_int, "data.horizon": checks.positive_int,
    "data.season": checks.nonnegative_int, "data.scaling": checks.one_of(SCALINGS),
    "model.mode": checks.one_of(MODES), "model.head": checks.one_of(HEADS),
    "model.input_size": checks.nonnegative_int, "model.dropout_rate": checks.rate,
    "train.eval_batch_size": checks.positive_int,
    "baselines.arima_d": checks.nonnegative_int, "baselines.arima_max_p": checks.nonnegative_int,
    "baselines.arima_max_q": checks.nonnegative_int, "report.interval": checks.fraction,
}

CLASSIFY_CHECKS = {
    "data.name": checks.one_of(registry.names(registry.SERIES)),
    "data.valid_fraction": checks.rate, "model.input_size": checks.nonnegative_int,
    "model.pool": checks.one_of(POOLS), "model.dropout_rate": checks.rate,
    "model.hidden_sizes": checks.sizes,
    "train.eval_batch_size": checks.positive_int,
}
