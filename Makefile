# The two set-up commands from README.md: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# constraints.txt pins every dependency to the versions the suite last passed with, so a
# fresh machine installs what was tested (a new upstream release cannot break `make test`
# unseen); `make lock` moves the pins to the newest releases pyproject.toml allows.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,lint]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/revocd demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check revocd tests bench
	$(BIN)/ruff format --check revocd tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/crl_ingest.py
	$(BIN)/python bench/ocsp_serve.py
	$(BIN)/python bench/upstream.py

lock:
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet '.[test,lint]'
	{ echo "# pip constraints: the versions make test last passed with (regenerate: make lock)"; \
	  $(VENV)-lock/bin/python -m pip freeze --exclude-editable | grep -v '^revocd[= @]'; } > constraints.txt
	rm -rf $(VENV)-lock
	@echo "constraints.txt updated: run make clean test before committing it"

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
