# Two commands do all set-up: `make run` and `make test` (`make test-fast`: the unit tests only).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS ?= corpus
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ANONYMIZED_TELEMETRY := False

.PHONY: setup run test test-fast ingest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m assistant.onnx_encoder   # export + int8-quantize the encoder once, offline
	touch $(STAMP)

ingest: setup
	$(BIN)/assistant ingest $(CORPUS)

run: setup ingest
	$(BIN)/streamlit run app.py --server.headless true --server.address 127.0.0.1 \
	  --server.port $(PORT) --browser.gatherUsageStats false

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit layer only (no real model, no subprocess, no browser or server): under 30 s.
# tests/conftest.py says which test is in which layer.
test-fast: setup
	ASSISTANT_TEST_LAYER=unit $(BIN)/python -m pytest -m "not slow and not integration" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf .assistant
