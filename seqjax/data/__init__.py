"""Datasets (TFDS builders read through grain), vocabularies and batching."""
