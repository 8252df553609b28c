# Two commands for a fresh machine (see README):  make demo   |   make test
# `setup` is idempotent: a stamp file records a finished install, keyed by the files
# that define it, so an interrupted install is redone rather than trusted.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.alignlab-setup
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-all bench qwen clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/nodeps.txt requirements/constraints.txt Makefile
	rm -f $(STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# pip is pinned: newer pips refuse the bigbench sdist (it declares a direct-URL
	# dependency, irrelevant under --no-deps); 23.2.1 installs it as DESIGN.md verified.
	$(BIN)/python -m pip install -q pip==23.2.1
	# torch first, pinned, so nothing later pulls a CUDA build onto a CPU machine.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[offline,dev]'
	$(BIN)/pip install -q --no-deps -r requirements/nodeps.txt
	$(BIN)/python -c "import alignlab, torch, transformers; print('alignlab setup ok: torch', torch.__version__, 'transformers', transformers.__version__)"
	touch $(STAMP)

demo: setup
	$(BIN)/alignlab demo

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m ''

bench: setup
	$(BIN)/python bench/extract.py

qwen: setup
	$(BIN)/pip install -q --no-deps -r requirements/qwen.txt

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
