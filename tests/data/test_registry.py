"""The dataset registry: every dataset under one ``DatasetSpec`` by name, looked up by kind,
its local files checked and the dataset prepared through it."""

import pytest

from seqjax.data import registry
from tests.fakes.data import write_ptb_like


def test_every_dataset_is_registered_once_with_its_kind():
  kinds = {name: registry.get(name).kind for name in registry.names()}
  assert kinds == {
      "ptb_word": "lm", "ptb_char": "lm", "tiny_shakespeare": "lm",
      "sst2": "classification", "sst_phrases": "classification",
      "sst_sentences": "classification", "sst_fine": "classification",
      "sst_fine_phrases": "classification", "imdb": "classification",
      "ud_english_ewt": "tagging", "multi30k": "translation",
      "diginetica": "sessions", "diginetica_sample": "sessions", "yoochoose": "sessions",
      "sunspots": "forecast", "co2": "forecast", "elnino": "forecast", "airline": "forecast",
      "japanese_vowels": "series", "basic_motions": "series", "italy_power_demand": "series",
      "sort_of_clevr": "vqa", "sort_of_clevr_49k": "vqa", "sort_of_clevr_tiny": "vqa",
      "scene_captions": "captions", "scene_captions_tiny": "captions", "flickr8k": "captions",
      "flickr8k_karpathy": "captions", "flickr30k_karpathy": "captions",
      "coco_karpathy": "captions"}
  assert registry.get("sst_fine").num_classes == 5
  assert registry.get("sst2").num_classes == 2
  with pytest.raises(ValueError, match="already registered"):
    registry.register(registry.DatasetSpec("sst2", registry.LM, object))
  with pytest.raises(ValueError, match="kind must be one of"):
    registry.DatasetSpec("x", "images", object)


def test_lookup_by_kind_names_the_key_and_the_choices():
  with pytest.raises(ValueError, match=r"data.name must be one of \['ud_english_ewt'\]; got "
                                       r"'ptb_word'"):
    registry.get("ptb_word", kind=registry.TAGGING)
  with pytest.raises(ValueError, match="data.name must be one of"):
    registry.get("nope")


def test_manual_dir_is_checked_against_the_declared_files(tmp_path):
  registry.check_manual_dir("", "ptb_word")  # empty: download
  with pytest.raises(FileNotFoundError, match="is not a directory"):
    registry.check_manual_dir(str(tmp_path / "absent"), "ptb_word")
  (tmp_path / "ptb.train.txt").write_text("a b\n")
  with pytest.raises(FileNotFoundError, match=r"lacks \['ptb.valid.txt', 'ptb.test.txt'\]"):
    registry.check_manual_dir(str(tmp_path), "ptb_word")


def test_prepare_builds_a_registered_dataset_from_a_local_directory(tmp_path):
  raw = tmp_path / "raw"
  write_ptb_like(raw)
  builder = registry.prepare("ptb_word", kind=registry.LM, manual_dir=str(raw),
                             data_dir=str(tmp_path / "tfds"))
  assert set(builder.info.splits) == {"train", "validation", "test"}
  with pytest.raises(ValueError, match="data.name must be one of"):
    registry.prepare("ptb_word", kind=registry.CLASSIFICATION, manual_dir=str(raw))
