# `make test` is the one command that runs the test suite on a fresh clone: it builds the
# virtualenv on first use (about a minute), then reuses it.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup test test-fast lint demo clean

setup: $(STAMP)

$(STAMP): constraints.txt requirements.txt requirements-dev.txt setup.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: setup
	$(VENV)/bin/python -m pytest -q

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

demo: setup
	TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/python demo.py

clean:
	rm -rf $(VENV) .cache
