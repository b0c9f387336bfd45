"""Kim (2014)'s CNN for sentence classification, all four variants on SST-1 and SST-2 with his
protocol: trained on every labelled phrase of the SST training trees, scored on the test
sentences (SST-1: 2,210 five-class; SST-2: 1,821 binary, neutral dropped), the best epoch by
dev accuracy. Filter widths 3/4/5 with 100 maps each, ReLU, max over time, dropout 0.5, batch
50, the l2 norm of each softmax weight vector capped at 3 after every step (``model.max_norm``).
Kim trains with Adadelta; this uses Adam (1e-3).

Choose the dataset and the variant after a colon:

    python -m experiments.sentiment.main \\
        --config=experiments/sentiment/configs/kim_cnn.py:sst1,rand \\
        --workdir=runs/kim_sst1_rand --config.data.manual_dir=../shared/data/sst

- ``rand``: embeddings initialised at random and trained;
- ``static``: pretrained vectors, kept fixed;
- ``nonstatic``: pretrained vectors, fine-tuned;
- ``multichannel``: both, as two channels every filter reads.

Kim used the 300-d GoogleNews word2vec vectors, which cannot be obtained here. The pretrained
variants read our own 300-d skip-gram vectors trained on the IMDB reviews
(``experiments/word2vec/configs/imdb_skipgram.py``, written to
``runs/w2v/imdb_skipgram/vectors.txt``; give another file with
``--config.data.pretrained_vectors``), so their numbers are not Kim's
setting. Kim's test accuracy: SST-1 rand 45.0, static 45.5, non-static 48.0, multichannel 47.4;
SST-2 82.7 / 86.8 / 87.2 / 88.1. Measured numbers go in experiments/sentiment/README.md once a run
has finished.
"""

from experiments.sentiment.configs import base

DATASETS = {"sst1": "sst_fine_phrases", "sst2": "sst_phrases"}
VARIANTS = ("rand", "static", "nonstatic", "multichannel")
VECTORS = "runs/w2v/imdb_skipgram/vectors.txt"


def get_config(spec: str = "sst2,rand"):
  try:
    dataset, variant = spec.split(",")
  except ValueError:
    raise ValueError(f"kim_cnn.py takes DATASET,VARIANT after a colon (e.g. sst1,rand); got "
                     f"{spec!r}") from None
  if dataset not in DATASETS or variant not in VARIANTS:
    raise ValueError(f"kim_cnn.py: DATASET must be one of {sorted(DATASETS)} and VARIANT one of "
                     f"{list(VARIANTS)}; got {spec!r}")
  c = base.get_config()
  c.data.name, c.data.lowercase = DATASETS[dataset], True
  c.data.tokenizer, c.data.max_length = "whitespace", 60
  c.model.kind, c.model.embed_size = "cnn", 300
  c.model.filter_widths, c.model.num_filters, c.model.dropout_rate = (3, 4, 5), 100, 0.5
  c.model.max_norm = 3.0
  if variant != "rand":
    c.data.pretrained_vectors = VECTORS
    c.model.freeze_embeddings = variant == "static"
    c.model.channels = 2 if variant == "multichannel" else 1
  c.train.batch_size, c.train.num_epochs, c.train.log_every = 50, 10, 500
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum = "adam", 1e-3, 0.0
  return c
