# batchpredict: `make demo` and `make test` are all a newcomer needs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PROVIDER ?= openai

.PHONY: install demo test lint up bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v redis-server >/dev/null || { echo "redis-server is missing: install it (apt-get install redis-server) and run make again"; exit 1; }
	@echo "installing batchpredict and its dependencies into $(VENV) (about a minute the first time) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off -e '.[dev]'
	@echo "installed"
	@touch $@

demo: install
	$(BIN)/python -m scripts.demo --provider $(PROVIDER)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

up: install
	$(BIN)/python -m scripts.up

bench: install
	$(BIN)/python -m scripts.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
