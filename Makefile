PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: venv demo test bench-quick bench-pgm peer-venvs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m dpsynth.demo

test: $(STAMP)
	$(PY) -m pytest -q

bench-quick: $(STAMP)
	benchmarks/setup_bench.sh
	$(PY) benchmarks/run.py --quick

peer-venvs:
	benchmarks/setup_peers.sh mbi
	benchmarks/setup_peers.sh dpmm

bench-pgm: $(STAMP) peer-venvs
	$(PY) benchmarks/pgm_engine.py

clean:
	rm -rf $(VENV) build *.egg-info
