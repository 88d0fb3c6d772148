"""Gingee modules; scripts import them as `from gingee_kernel import db, cache`."""
