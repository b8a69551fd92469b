# Two commands on a fresh machine:  make demo  (set up + run the main job)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast gpu-check clean

setup: $(STAMP)

# torch first: the CPU build when this machine holds it locally (pip's find-links), so that the
# project's torch range installs nothing more; elsewhere pip resolves torch from the project.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	if $(BIN)/python -m pip download --quiet --no-index --no-deps -d $(VENV)/.torch-wheel torch==2.13.0 2>/dev/null; \
	then rm -rf $(VENV)/.torch-wheel; $(BIN)/python -m pip install --quiet torch==2.13.0; \
	else echo "no local CPU build of torch 2.13.0; pip resolves torch from the project's range"; fi
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rsigym run RSI-MLE-v0 --agent search --iterations 8 --seed 0 --out runs

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not docker" $(PYTEST_ARGS)

# The whole GPU path on one CUDA GPU in about 8 minutes; writes gpu-check-report.md (docs/kernels.md).
# Uses this project's venv when there is one, else $(PYTHON) with rsigym installed (a GPU box's image).
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py --out gpu-check-report.md

clean:
	rm -rf $(VENV) build dist *.egg-info runs .pytest_cache
