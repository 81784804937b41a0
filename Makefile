# Two commands on a fresh machine: `make demo` and `make test`. Everything else is here too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-unit proto lint bench mutation kafka-up kafka-down clean

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
	$(BIN)/xenon --max-absolute B --exclude 'services/credverify/v1/*' services

bench: install
	$(BIN)/python scripts/bench.py $(if $(FULL),--full)

# Mutation testing of the modules where a silent change costs trust or privacy; slow, so not part
# of `make test`. Its own venv, so that mutmut's click never meets faust's in .venv.
MUTATION_VENV := .venv-mutation
$(MUTATION_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/pip install --quiet --upgrade pip
	$(MUTATION_VENV)/bin/pip install --quiet -e '.[mutation]'
	touch $@

mutation: $(MUTATION_VENV)/.installed
	$(MUTATION_VENV)/bin/python scripts/mutation.py $(foreach m,$(MODULES),--module $(m))

kafka-up: install
	$(BIN)/python deploy/kafka/localkafka.py up

kafka-down:
	$(PYTHON) deploy/kafka/localkafka.py down

clean:
	rm -rf $(VENV) .demo .bench .pytest_cache .mypy_cache .ruff_cache
