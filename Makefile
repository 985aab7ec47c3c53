# Every target creates the local virtual environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

DEMO_DATA := data/demo-blobs

demo: $(STAMP)
	test -d $(DEMO_DATA) || $(BIN)/dkmeans generate blobs --rows 1000000 --features 16 \
		--centers 8 --seed 0 --out $(DEMO_DATA)
	$(BIN)/dkmeans run configs/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/python -m compileall -q dkmeans tests bench

clean:
	rm -rf $(VENV) build *.egg-info
