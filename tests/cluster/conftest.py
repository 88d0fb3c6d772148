"""The fleet fixture (tests/cluster/fleet.py) for every test here."""

from tests.cluster.fleet import fleet  # noqa: F401
