# Two commands on a fresh machine: `make demo` and `make test`. Everything else is here too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-unit proto lint bench kafka-up kafka-down clean

install: $(VENV)/.installed

# Re-installs when the dependencies or the Kafka pom change.
$(VENV)/.installed: pyproject.toml deploy/kafka/pom.xml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python deploy/kafka/localkafka.py fetch
	touch $@

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

proto: install
	$(BIN)/python scripts/genproto.py

lint: install
	$(BIN)/ruff check services tests scripts deploy
	$(BIN)/mypy services

bench: install
	$(BIN)/python scripts/bench.py $(if $(FULL),--full)

kafka-up: install
	$(BIN)/python deploy/kafka/localkafka.py up

kafka-down:
	$(PYTHON) deploy/kafka/localkafka.py down

clean:
	rm -rf $(VENV) .demo .bench .pytest_cache .mypy_cache .ruff_cache
