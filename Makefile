# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PYTEST_WORKERS ?= 2

.PHONY: install run test bench api-check newman clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## Start the server (waitress) on the embedded SQLite default, data under ./data.
run: install
	$(BIN)/python wsgi.py

## Run the whole test suite (SQLite always; PostgreSQL when reachable).
test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q -p no:cacheprovider

## Benchmarks (see bench/RESULTS.md, where results are recorded by hand).
bench: install
	$(BIN)/python -m bench.run_all $(BENCH)

NEWMAN := .tools/node_modules/.bin/newman
$(NEWMAN):
	npm install --silent --no-audit --no-fund --prefix .tools newman@6

newman: $(NEWMAN)

## Start the real server (PostgreSQL; partitions on, then off) and run the Postman
## collections and the curl examples against it.
api-check: install $(NEWMAN)
	$(BIN)/python -m postman.api_check $(API_CHECK_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .tools
