PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: venv demo test java bench-quick bench-pgm peer-venvs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m dpsynth.demo

test: $(STAMP) java
	$(PY) -m pytest -q

# Java 17 for the Spark engine's tests (they skip without it): from Debian's packages when missing and root.
java:
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless) \
	  >/dev/null 2>&1; } || echo "no Java 17: the Spark engine tests will be skipped"

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
