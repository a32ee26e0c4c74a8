# CallVault: `make run` serves the app with a demo account; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: run test worker clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask demo --if-empty
	FATHOM_SANDBOX=$${FATHOM_SANDBOX-1} $(BIN)/flask run --host 127.0.0.1 --port 5000

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

worker: $(BIN)/.installed
	$(BIN)/python worker.py

clean:
	rm -rf $(VENV) .pytest_cache
