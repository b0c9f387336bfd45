"""Generated stand-ins for the real datasets, written in their exact on-disk formats, each with a
pattern a tiny model can learn (so the experiment tests and ``benchmarks/tiny_metrics.py`` run
every task end to end without ``../shared/data``)."""

import pathlib

import numpy as np



def write_ptb_like(directory: pathlib.Path, seed: int = 0, lines=(300, 40, 40)) -> None:
  """PTB-format text (one sentence per line, leading space) with a learnable pattern: word
  ``w{k+1}`` mostly follows ``w{k}``, over a 30-word vocabulary."""
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  for split, n in zip(("train", "valid", "test"), lines):
    out = []
    for _ in range(n):
      k = rng.integers(30)
      words = []
      for _ in range(rng.integers(4, 12)):
        words.append(f"w{k}")
        k = (k + 1) % 30 if rng.random() < 0.9 else rng.integers(30)
      out.append(" " + " ".join(words) + " ")
    (directory / f"ptb.{split}.txt").write_text("\n".join(out) + "\n")


def write_topics(directory, seed=0):
  """PTB-format text where every sentence draws its words from one of two topics (``aK`` or
  ``bK``), so words of one topic share contexts."""
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  for split, n in (("train", 1500), ("valid", 100), ("test", 100)):
    lines = []
    for _ in range(n):
      topic = "ab"[rng.integers(2)]
      lines.append(" ".join(f"{topic}{k}" for k in rng.integers(0, 10, rng.integers(4, 10))))
    (directory / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")

POSITIVE = [f"good{i}" for i in range(8)]

NEGATIVE = [f"bad{i}" for i in range(8)]

FILLER = [f"w{i}" for i in range(40)]


def sentiment_sentence(rng: np.random.Generator, label: int) -> str:
  """3-14 filler words with 1-3 words of the label's polarity: a separable task."""
  words = list(rng.choice(FILLER, rng.integers(2, 12)))
  for _ in range(rng.integers(1, 4)):
    words.insert(rng.integers(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
  return " ".join(words)


def write_sst2_like(directory: pathlib.Path, seed: int = 0, sizes=(600, 100, 50)) -> None:
  """GLUE SST-2 format (``sentence \\tlabel`` with GLUE's space before the tab; an unlabelled
  ``index\\tsentence`` test file) of the separable task above."""
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  for name, n in zip(("train", "dev"), sizes[:2]):
    labels = rng.integers(0, 2, n)
    rows = [f"{sentiment_sentence(rng, y)} \t{y}" for y in labels]
    (directory / f"{name}.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
  rows = [f"{i}\t{sentiment_sentence(rng, int(rng.integers(2)))}" for i in range(sizes[2])]
  (directory / "test.tsv").write_text("index\tsentence\n" + "\n".join(rows) + "\n")


MULTI30K_FILES = ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco",
                  "test_2018_flickr")


def write_multi30k_like(directory: pathlib.Path, seed: int = 0, sizes=(400, 40, 30)) -> None:
  """Multi30k's layout (gzipped ``{split}.{de,en}``) of a learnable toy translation: each German
  word ``dK`` becomes the English word ``eK``, in order, and the English sentence ends with a
  full stop glued to its last word (``e3 e7 e1.``)."""
  import gzip  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  for name in MULTI30K_FILES:
    n = sizes[0] if name == "train" else sizes[1] if name == "val" else sizes[2]
    de, en = [], []
    for _ in range(n):
      words = rng.integers(0, 12, rng.integers(2, 7))
      de.append(" ".join(f"d{k}" for k in words))
      en.append(" ".join(f"e{k}" for k in words) + ".")
    for lang, lines in (("de", de), ("en", en)):
      with gzip.open(directory / f"{name}.{lang}.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def tagged_sentence(rng: np.random.Generator, stems: list[str]) -> list[tuple[str, str]]:
  """``[(word, UPOS)]`` of a toy grammar: ``DET ADJ* NOUN [AUX PART] VERB (DET NOUN)? PUNCT``.
  Nouns end in *-tion*, verbs in *-ed*, adjectives in *-ous* (so characters tag unseen stems),
  and ``run`` is a NOUN after a determiner or adjective but a VERB after a noun (so a tagger
  needs the context)."""
  stem = lambda: stems[rng.integers(len(stems))]
  noun = lambda: ("run", "NOUN") if rng.random() < 0.2 else (stem() + "tion", "NOUN")
  verb = lambda: ("run", "VERB") if rng.random() < 0.2 else (stem() + "ed", "VERB")
  words = [(("the", "a")[rng.integers(2)], "DET")]
  words += [(stem() + "ous", "ADJ") for _ in range(rng.integers(0, 3))]
  words.append(noun())
  if rng.random() < 0.2:
    words += [("do", "AUX"), ("n't", "PART")]
  words.append(verb())
  if rng.random() < 0.5:
    words += [(("the", "a")[rng.integers(2)], "DET"), noun()]
  return words + [(".", "PUNCT")]


def conllu_text(sentences: list[list[tuple[str, str]]], prefix: str = "s") -> str:
  """CoNLL-U of ``[(word, UPOS)]`` sentences, with comments, a multiword-token range over each
  ``do n't`` and an empty node after the first word of every fifth sentence."""
  blocks = []
  for k, words in enumerate(sentences):
    text = " ".join(w for w, _ in words)
    lines = [f"# sent_id = {prefix}-{k}", f"# text = {text}"]
    for i, (w, tag) in enumerate(words, start=1):
      if w == "do" and i < len(words) and words[i][0] == "n't":
        lines.append(f"{i}-{i + 1}\tdon't\t_\t_\t_\t_\t_\t_\t_\t_")
      lines.append(f"{i}\t{w}\t{w.lower()}\t{tag}\t{tag[:2]}\t_\t0\tdep\t_\t_")
      if i == 1 and k % 5 == 0:
        lines.append(f"1.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t0:root\t_")
    blocks.append("\n".join(lines))
  return "\n\n".join(blocks) + "\n\n"


def write_conllu_like(directory: pathlib.Path, seed: int = 0, sizes=(400, 60, 60)) -> None:
  """UD English-EWT's layout (``en_ewt-ud-{train,dev,test}.conllu``; train gzipped) of the toy
  grammar of ``tagged_sentence``; dev and test use stems unseen in train half of the time."""
  import gzip  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  train_stems = [f"st{k}x" for k in range(40)]
  new_stems = train_stems + [f"nu{k}y" for k in range(40)]
  for name, n in zip(("train", "dev", "test"), sizes):
    stems = train_stems if name == "train" else new_stems
    text = conllu_text([tagged_sentence(rng, stems) for _ in range(n)], prefix=name)
    if name == "train":
      with gzip.open(directory / "en_ewt-ud-train.conllu.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    else:
      (directory / f"en_ewt-ud-{name}.conllu").write_text(text, encoding="utf-8")


def write_diginetica_like(directory: pathlib.Path, seed: int = 0, sessions: int = 600,
                          items: int = 40) -> None:
  """DIGINETICA's ``train-item-views.csv`` layout (under SR-GNN's sample name) of walks through
  the items: a session starts anywhere and views item ``k + 1 (mod items)`` after ``k``, with
  the rows of a session shuffled (``timeframe`` gives the order) over 30 days."""
  import datetime  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  lines = ["session_id;user_id;item_id;timeframe;eventdate"]
  day0 = datetime.date(2016, 5, 1)
  for session in range(1, sessions + 1):
    start, n = int(rng.integers(items)), int(rng.integers(2, 8))
    date = day0 + datetime.timedelta(days=int(30 * (session - 1) / sessions))
    rows = [(1000 + (start + t) % items, 5000 * t + int(rng.integers(1000))) for t in range(n)]
    for k in rng.permutation(n):
      item, frame = rows[k]
      lines.append(f"{session};NA;{item};{frame};{date.isoformat()}")
  (directory / "sample_train-item-views.csv").write_text("\n".join(lines) + "\n")


def ar_series(n: int, seed: int = 0, phi=(0.6, -0.3), sigma: float = 0.1,
              mean: float = 10.0) -> np.ndarray:
  """A stationary AR(p) series around ``mean`` with N(0, sigma^2) innovations (burn-in
  discarded): its best forecast of one step errs by exactly ``sigma`` in RMS."""
  rng = np.random.default_rng(seed)
  p = len(phi)
  x = np.zeros(n + 200)
  eps = rng.normal(0.0, sigma, len(x))
  for t in range(p, len(x)):
    x[t] = sum(phi[k] * x[t - 1 - k] for k in range(p)) + eps[t]
  return mean + x[200:]


def write_sunspots_like(directory: pathlib.Path, values: np.ndarray, start: int = 1700) -> None:
  """``values`` as statsmodels' ``sunspots.csv`` (``"YEAR","SUNACTIVITY"``, one row a year)."""
  directory.mkdir(parents=True, exist_ok=True)
  rows = ['"YEAR","SUNACTIVITY"'] + [f"{start + i},{float(v)!r}" for i, v in enumerate(values)]
  (directory / "sunspots.csv").write_text("\n".join(rows) + "\n")


def write_ts_like(directory: pathlib.Path, name: str = "JapaneseVowels", seed: int = 0,
                  sizes=(60, 40), classes=tuple("123456789"), dims: int = 12,
                  lengths=(7, 29)) -> None:
  """UEA ``.ts`` files (``<name>_TRAIN.ts``, ``<name>_TEST.ts``) of variable-length
  multivariate cases whose class sets the mean of channel ``class % dims``."""
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  for split, n in zip(("TRAIN", "TEST"), sizes):
    lines = [f"@problemName {name}", "@timeStamps false", "@missing false",
             f"@univariate {'true' if dims == 1 else 'false'}", f"@dimensions {dims}",
             "@equalLength false", f"@classLabel true {' '.join(classes)}", "@data"]
    for i in range(n):
      c = i % len(classes)
      t = int(rng.integers(lengths[0], lengths[1] + 1))
      x = rng.normal(0.0, 1.0, (t, dims))
      x[:, c % dims] += 2.0
      chans = [",".join(f"{v:.5f}" for v in x[:, d]) for d in range(dims)]
      lines.append(":".join(chans) + ":" + classes[c])
    (directory / f"{name}_{split}.ts").write_text("\n".join(lines) + "\n")
