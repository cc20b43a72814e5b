# The two commands (see README.md): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit system clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The photo studio on simulated hardware (real protocols on loopback), vehicles
# from a scenario, the operator console on this terminal (logged in as alice,
# an operator of configs/users.example.yaml). Quit the console with q.
demo: $(STAMP)
	$(BIN)/station config check configs/lines/*.yaml configs/stations/*.yaml configs/stations/*/*.yaml
	rm -rf .demo
	# a users file the station serves must be private (mode 0600): a copy of the example
	install -D -m 600 configs/users.example.yaml .demo/users.yaml
	$(BIN)/station run --config configs/stations/photo-studio.yaml --simulate \
		--scenario configs/scenarios/photo-demo.yaml --users .demo/users.yaml \
		--state-dir .demo --console

# lint, types, then every test (unit and system) in one pytest run
test: $(STAMP) lint types
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check station hal simulators tests
	$(BIN)/ruff format --check station hal simulators tests

types: $(STAMP)
	$(BIN)/mypy

# the pure tests only (no socket, process or terminal): seconds, for the edit loop
unit: $(STAMP)
	$(BIN)/pytest tests/unit

# the tests with sockets, processes and terminals (simulators, brokers, tmux)
system: $(STAMP)
	$(BIN)/pytest tests/system

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
