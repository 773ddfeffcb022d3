# racer: `make demo` trains, evaluates and exports on the default track; `make test` runs the tests.
# Both create .venv and install the pinned dependencies on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow test-all lint format bench car-wheel clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "racer needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# torch first, pinned, so the CPU build on the machine is used (a bare requirement pulls CUDA).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/racer demo

test: $(STAMP) lint
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

test-all: test test-slow

lint: $(STAMP)
	$(VENV)/bin/ruff check racer tests benchmarks
	$(VENV)/bin/ruff format --check racer tests benchmarks
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix racer tests benchmarks
	$(VENV)/bin/ruff format racer tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/env_speed.py

# the car's light runtime (racer-car: numpy + ONNX Runtime, Python >= 3.9) as a wheel in dist/
car-wheel: $(STAMP)
	$(VENV)/bin/racer car-wheel dist

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
