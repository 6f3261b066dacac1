"""Helpers shared by the unit tests of several areas (fixtures live in the conftest.py files)."""
