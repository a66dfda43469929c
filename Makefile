# All set-up lives here: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cyclr-installed

# Keras picks its backend at first import; JAX runs on the CPU here.
export KERAS_BACKEND ?= torch
export JAX_PLATFORMS ?= cpu

.PHONY: demo test lint bench bench-confirm bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m cyclr demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

BENCH_APT := dataset-fashion-mnist fortunes wamerican
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench: $(STAMP)
	@if [ -d /usr/share/datasets/fashion-mnist ] && [ -d /usr/share/games/fortunes ] && [ -f /usr/share/dict/words ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  ($(SUDO) apt-get update && $(SUDO) apt-get install -y $(BENCH_APT)) || echo "make bench: apt-get install $(BENCH_APT) failed; tasks without data are skipped and named in the report"; \
	else \
	  echo "make bench: apt-get is not available; install Debian's $(BENCH_APT). Tasks without data are skipped and named in the report."; \
	fi
	$(PY) -m pip install --quiet -c constraints.txt -r benchmarks/requirements.txt
	$(PY) -m pip install --quiet --no-deps fastai==2.8.12
	$(PY) -m benchmarks --prototypes

# The confirmation and the schedules between its bounds, on the suite's cached range tests,
# then over 40 epochs on three of the tasks.
LONG := digits-mlp-sgd-long,mnist1d-cnn-adam-long,friedman1-mlp-sgd0-long
bench-confirm: bench
	$(PY) -m benchmarks.suite.experiments --seeds 3 --threads 1 --no-schedules \
	  --rules 'bottom,lag-1,confirm-val-*,confirm-vrise-*' --out benchmarks/results/confirm_val.md
	$(PY) -m benchmarks.suite.experiments --seeds 3 --threads 1 \
	  --rules bottom,confirm-vrise-q5-k40 --schedule-variants pick,pick-bounds,stable,smith,fastai \
	  --out benchmarks/results/schedules_pick_val.md
	$(PY) -m benchmarks --tasks $(LONG) --families cyclr,fastai --phases oracle,finders \
	  --seeds 3 --threads 1 --out benchmarks/.cache/long_suite.md
	$(PY) -m benchmarks.suite.experiments --tasks $(LONG) --seeds 3 --threads 1 \
	  --rules bottom,confirm-vrise-q5-k40 --schedule-variants stable,smith,fastai \
	  --out benchmarks/results/schedules_confirmed_long.md

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
