# One command runs the same checks everywhere: `make test`, locally and in CI.
.PHONY: test bootstrap lint images stop-engine

PY := .venv/bin/python

test: bootstrap
	$(PY) -m pytest

bootstrap:
	@bash scripts/bootstrap.sh

lint: bootstrap
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

images:
	bash images/build.sh

stop-engine:
	bash scripts/engine.sh stop
