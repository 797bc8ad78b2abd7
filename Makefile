# S3 developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export OMP_NUM_THREADS ?= 1
export WANDB_MODE ?= offline

.DEFAULT_GOAL := help
.PHONY: help install demo test lint format benchmark figure clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install s3 (editable) with dev extras; fast when already done

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: install ## train the demo network on synthetic videos (2 CPU cores, <15 min) and print J&F
	OMP_NUM_THREADS=2 $(VENV)/bin/s3 demo

test: install ## run the test suite (CPU only)
	$(PY) -m pytest -q

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check s3 tests notebooks
	$(VENV)/bin/ruff format --check s3 tests notebooks

format: install ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix s3 tests notebooks
	$(VENV)/bin/ruff format s3 tests notebooks

benchmark: install ## on-demand speed/memory benchmarks (not part of CI)
	$(VENV)/bin/s3 benchmark --preset cutie --height 480 --frames 20

FIGURE_FRAME := tests/fixtures/cutie_examples/images/judo/00000.jpg
FIGURE_MASK := tests/fixtures/cutie_examples/masks/judo/00000.png

figure: install ## regenerate docs/feature_maps_example.png (README "Looking inside"; random base networks)
	$(VENV)/bin/s3 visualize features --compare cutie cutie_dq_vit s3 --size base --height 224 \
		--frame $(FIGURE_FRAME) --mask $(FIGURE_MASK) --output docs/feature_maps_example.png

gpu-check: install ## on a GPU machine: the gpu-marked tests + FPS / memory / training it/s table (<= 8 min, H100)
	OMP_NUM_THREADS=$$(nproc) $(PY) tests/gpu_check.py

gpu-wheels: install ## .whl/: the wheels a lent GPU machine lacks (then: bash tests/gpu/run_on_device.sh there)
	bash tests/gpu/fetch_device_wheels.sh

clean: ## remove generated data, logs and outputs (keeps .venv)
	rm -rf data outputs lightning_logs wandb .pytest_cache .ruff_cache
