# The two set-up commands of the README:
#   make demo   create .venv, install trustaudit, run the Rotterdam -> GBSG example audit
#   make test   create .venv, install trustaudit with the dev extras, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXAMPLE := examples/rotterdam_gbsg
DEMO_OUT := $(EXAMPLE)/out

.PHONY: demo demo-flchain demo-segmentation test venv install-demo install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python

install-demo: venv
	$(BIN)/python -m pip install --quiet -e ".[examples]"

install-dev: venv
	$(BIN)/python -m pip install --quiet -e ".[dev]"

demo: install-demo
	$(BIN)/python $(EXAMPLE)/prepare.py
	$(BIN)/trustaudit run $(EXAMPLE)/audit.yaml --out $(DEMO_OUT)
	@echo
	@echo "Report: $(abspath $(DEMO_OUT))/report.html"
	@echo "Data:   $(abspath $(DEMO_OUT))/results.json"

demo-flchain: install-demo
	$(BIN)/python examples/flchain/prepare.py
	$(BIN)/trustaudit run examples/flchain/audit.yaml --out examples/flchain/out
	@echo
	@echo "Report: $(abspath examples/flchain/out)/report.html"

demo-segmentation: install-dev
	$(BIN)/python examples/lesion_phantoms/prepare.py
	$(BIN)/trustaudit run examples/lesion_phantoms/audit.yaml --out examples/lesion_phantoms/out
	@echo
	@echo "Report: $(abspath examples/lesion_phantoms/out)/report.html"

test: install-dev
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python benchmarks/bootstrap.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) examples/flchain/out build dist *.egg-info .pytest_cache
