# Two commands on a fresh machine: `make demo` and `make test`. Everything else is here too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install lock demo test test-unit proto lint bench mutation kafka-up kafka-down kafka-cluster-up kafka-cluster-down clean

install: $(VENV)/.installed

# Re-installs when the locked dependencies or the Kafka pom change. Every package, the build backend
# included, comes from requirements-dev.lock with its hash: a package swapped on the index, or a new
# release nobody reviewed, stops the install instead of running in CI. The project itself goes in
# without dependencies and without a build environment of its own (its backend is in the lock).
$(VENV)/.installed: requirements-dev.lock pyproject.toml deploy/kafka/pom.xml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python deploy/kafka/localkafka.py fetch
	touch $@

# After a change to the dependencies in pyproject.toml: resolve again and write both lock files
# (requirements.lock for a deployment, requirements-dev.lock for development and CI), with hashes.
LOCK_VENV := .venv-lock
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links --all-build-deps
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools; }
	$(PIP_COMPILE) --output-file=requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra=dev --output-file=requirements-dev.lock pyproject.toml

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

# Three brokers on 127.0.0.1:9192-9194 and their KRaft controller: replication factor 3,
# min.insync.replicas 2, unclean leader election off, closed as the single broker is.
kafka-cluster-up: install
	$(BIN)/python deploy/kafka/localkafka.py cluster --brokers 3

kafka-cluster-down:
	$(PYTHON) deploy/kafka/localkafka.py cluster-down

clean:
	rm -rf $(VENV) $(LOCK_VENV) .demo .bench .pytest_cache .mypy_cache .ruff_cache
