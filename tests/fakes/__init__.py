"""Fakes shared by the tests: generated datasets in the real formats (``data``)."""
