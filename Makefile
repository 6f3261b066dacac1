# Every target creates .venv on first use and reinstalls only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-unit test-integration lint demo flower sim bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check worker tasks tests bench
	$(BIN)/ruff format --check worker tasks tests bench
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/reloadctl demo

# Flower only with basic auth (user:password in FLOWER_BASIC_AUTH, Flower's own setting).
flower: $(STAMP)
	@test -n "$$FLOWER_BASIC_AUTH" || { \
	  echo "FLOWER_BASIC_AUTH is not set: Flower runs here only with basic auth (user:password)." >&2; \
	  echo "For example:  FLOWER_BASIC_AUTH=admin:$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(12))') make flower" >&2; \
	  exit 2; }
	$(BIN)/celery -A worker flower

sim: $(STAMP)
	$(BIN)/reloadctl sim --key demo-key --reload-seconds 3

bench: $(STAMP)
	$(BIN)/python -m bench $(if $(BENCH_QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
