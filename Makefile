# mictlanx-sync: every target works on a fresh machine with only Python 3.9+ installed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint demo bench vss clean install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) setup.cfg setup.py pyproject.toml
	$(PY) -m pip install --quiet -e '.[server,progress,test,crypto]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check mictlanx_sync tests samples
	$(VENV)/bin/mypy --strict mictlanx_sync

demo: $(STAMP)
	$(PY) samples/demo.py

bench: $(STAMP)
	$(PY) tests/benchmarks/run.py $(BENCH_ARGS)

vss: $(STAMP)
	$(VENV)/bin/mictlanx-sync vss up --peers 2 --peer-ports 24000,24001 --rf 1 --data-dir .vss-data --port 60666

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .vss-data .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
