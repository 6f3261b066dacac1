"""Constants of the single-flight tests (the flights fixture: tests/unit/reload/conftest.py)."""

NOW = 1_700_000_000.0
TTL = 3600
