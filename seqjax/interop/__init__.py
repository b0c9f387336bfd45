"""Conversions between seqjax parameters and other frameworks (PyTorch)."""
