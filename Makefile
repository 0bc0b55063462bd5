# The README's two commands. Each does its own set-up on a fresh machine (a venv in .venv).
#   make say TEXT="Hello there." OUT=hello.wav   text to wav with the real models from the Hugging Face Hub
#   make test                                    the offline test suite (what .ci/run runs)
# and `make docs`: the documentation site (docs/, mkdocs.yml) built strictly, offline, into site/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEXT ?= Hello, my dog is cute [laughs]
OUT ?= hello.wav
BARK ?= suno/bark-small
VOCODER ?= hf-audio/vocos-encodec-24khz
VOICE ?= v2/en_speaker_6
SEED ?= 0
PINS ?=

.PHONY: setup browser test test-oldest test-latest lock say say-tiny lint docs bench-tables gpu-wheels gpu-check

setup: $(VENV)/.installed

# The set-up installs exactly the versions in requirements.lock (made by `make lock`), so an upstream release cannot
# break a fresh clone; pyproject.toml keeps open ranges for those who install the package into their own environment.
# torch is the CPU build that lies on this project's machines (/opt/wheels); elsewhere any torch>=2.6 works
# (transformers 5 needs it; an unpinned install may pull several GB of CUDA wheels). vocos 0.1.0 and encodec 0.1.1
# are the original reference implementations, installed without their dependencies (torchaudio has no build for this
# torch): only the parity tests import them. UNLOCKED=1 installs the newest versions pyproject.toml allows instead.
LOCK := requirements.lock
UNLOCKED ?=
REFERENCES := vocos==0.1.0 encodec==0.1.1 einops==0.8.2
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	if [ -n "$(UNLOCKED)" ]; then \
	  $(BIN)/pip install --quiet torch==2.13.0 && \
	  $(BIN)/pip install --quiet -e ".[test,server,ray,docs]" torch==2.13.0 $(PINS); \
	else \
	  $(BIN)/pip install --quiet -r $(LOCK) && $(BIN)/pip install --quiet --no-deps -e .; \
	fi
	$(BIN)/pip install --quiet --no-deps $(REFERENCES)
	touch $@

# Regenerate requirements.lock from pyproject.toml with uv (in its own venv, .venv-lock): the newest versions the
# ranges allow today, torch held to the CPU build on disk. Run `make test-latest` first and note what it found.
UV_VERSION := 0.13.9
lock:
	[ -x .venv-lock/bin/uv ] || { $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet uv==$(UV_VERSION); }
	printf 'torch==2.13.0+cpu\n' | .venv-lock/bin/uv pip compile - pyproject.toml --extra test --extra server \
	  --extra ray --extra docs --python-version 3.11 --python-platform x86_64-manylinux_2_28 --find-links /opt/wheels \
	  --annotation-style line --custom-compile-command "make lock" -o $(LOCK)

# Debian's Chromium for the report page's browser test (needs root or sudo; skipped when already present).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The suite on TEST_WORKERS pytest-xdist workers (each test on one of them; tests/conftest.py gives each worker its
# share of the cores as torch threads): most of its time is processes that import torch and transformers on one
# core. The slowest tests are listed at the end. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2
test: setup browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q --durations=20 $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)

# The suite on the oldest transformers pyproject.toml accepts: `make test` in a second venv (not part of CI).
OLDEST_TRANSFORMERS := $(shell sed -n 's/.*"transformers>=\([0-9.]*\),.*/\1/p' pyproject.toml)
test-oldest:
	$(MAKE) test VENV=.venv-oldest UNLOCKED=1 PINS="transformers==$(OLDEST_TRANSFORMERS).0"

# The suite on the newest versions pyproject.toml allows (not part of CI): run it before each `make lock`.
test-latest:
	rm -rf .venv-latest
	$(MAKE) test VENV=.venv-latest UNLOCKED=1

say: setup
	$(BIN)/bark-vocos say "$(TEXT)" -o $(OUT) --bark $(BARK) --vocoder $(VOCODER) --voice $(VOICE) --seed $(SEED)

# Offline smoke test of the whole chain on tiny RANDOM checkpoints (make-tiny): the wav is noise, not speech.
say-tiny: setup
	[ -e tiny ] || $(BIN)/bark-vocos make-tiny tiny
	$(BIN)/bark-vocos say "$(TEXT)" -o tiny.wav --bark tiny/bark --vocoder tiny/vocos --voice v2/en_speaker_0 --seed $(SEED)

lint: setup
	$(BIN)/ruff check bark_vocos pipelines tests notebooks

# The site, offline (no plugin reaches the network; the theme's web fonts are off): what tests/test_docs.py builds.
docs: setup
	NO_MKDOCS_2_WARNING=1 HF_HUB_OFFLINE=1 $(BIN)/mkdocs build --strict

# The speed tables of README.md and docs/ from docs/benchmarks/*.json (a test fails when they disagree).
bench-tables:
	$(PYTHON) .ci/bench_tables.py

# The GPU checks (.ci/gpu-check: CUDA tests and benches), for a machine whose python3 has a CUDA build of torch and
# transformers but no PyPI. gpu-wheels, run where PyPI is reachable, puts the rest of what they import into .whl as
# wheels for CPython 3.12 on x86-64 Linux (encodec is published as source only: built into a wheel here).
GPU_WHEELS := soundfile cffi pycparser vocos==0.1.0 einops
gpu-wheels:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl $(GPU_WHEELS)
	$(PYTHON) -m pip wheel --quiet --no-deps -w .whl encodec==0.1.1

gpu-check:
	.ci/gpu-check
