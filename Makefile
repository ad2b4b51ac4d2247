# mictlanx-sync: every target works on a fresh machine with only Python 3.9+ installed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test test-external test-docker test-durability lint demo bench vss clean install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) setup.cfg setup.py pyproject.toml
	$(PY) -m pip install --quiet -e '.[server,progress,test,crypto,fsspec]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# The integration slice that needs only a router, against $$MICTLANX_TEST_URI (set it; tests that
# need local processes are skipped). `make test` with MICTLANX_TEST_URI set runs the whole suite so.
EXTERNAL_SLICE ?= tests/integration/test_realrouter.py tests/integration/test_client.py
test-external: $(STAMP)
	@test -n "$$MICTLANX_TEST_URI" || { echo "set MICTLANX_TEST_URI to a mictlanx:// router URI" >&2; exit 2; }
	$(PY) -m pytest -q $(EXTERNAL_SLICE)

# Needs Docker (not available on this project's CI machine): the real MictlanX images up, wait
# for the router to list its peers, run the suite against it (local-only tests skipped), tear down.
COMPOSE_MICTLANX := docker compose -f docker/compose.mictlanx.yml
MICTLANX_DOCKER_URI := mictlanx://mictlanx-router-0@localhost:60666/?protocol=http&api_version=4&http2=0
test-docker: $(STAMP)
	$(COMPOSE_MICTLANX) up -d
	trap '$(COMPOSE_MICTLANX) down -v' EXIT; \
	  $(PY) .ci/wait_router.py http://localhost:60666 180 && \
	  MICTLANX_TEST_URI='$(MICTLANX_DOCKER_URI)' $(PY) -m pytest -q

# Opt-in power-cut simulation (root, losetup, mkfs.ext4): skips with the reason where unavailable.
test-durability: $(STAMP)
	MICTLANX_DURABILITY=1 $(PY) -m pytest -q -s -rs tests/durability

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
