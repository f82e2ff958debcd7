# `make test` is the one command that runs the test suite on a fresh clone: it builds the
# virtualenv on first use (about a minute), then reuses it.
# The interpreter the venv is built with: the first of python3.11, python3.10, python3 that
# runs and is a version the pins install on (TensorFlow 2.15.1: 3.9-3.11; scipy 1.14.1 in
# constraints.txt: >= 3.10). pyenv puts shims on PATH for versions that are not active, so
# each candidate is run, not just looked up. `make PYTHON=/path/to/python3.11` overrides.
SUPPORTED_PYTHONS := 3.10 3.11
PYTHON ?= $(shell for p in python3.11 python3.10 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] not in [(3, 10), (3, 11)])' 2>/dev/null && echo $$p && break; done)
VENV := .venv
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup test test-fast lint demo clean

setup: $(STAMP)

$(STAMP): constraints.txt requirements.txt requirements-dev.txt setup.py
	@v=$$($(or $(PYTHON),false) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	case " $(SUPPORTED_PYTHONS) " in *" $$v "*) ;; *) echo "make: needs Python 3.10 or 3.11 (TensorFlow \
	2.15.1 and constraints.txt); found $(or $(PYTHON),none) $${v:-(not runnable)}: install python3.11, or pass \
	PYTHON=/path/to/python3.11" >&2; exit 1;; esac
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
	$(VENV)/bin/lint-imports --no-cache

demo: setup
	TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/python demo.py

clean:
	rm -rf $(VENV) .cache
