# One command runs the same checks everywhere: `make test`, locally and in CI.
.PHONY: test up demo bootstrap lint images stop-engine

PY := .venv/bin/python

test: bootstrap
	$(PY) -m pytest

# The whole service in the foreground (Ctrl-C stops it): Redis, API, worker, beat.
up: bootstrap
	@echo "runner: the API will listen on http://$${RUNNER_HOST:-127.0.0.1}:$${RUNNER_PORT:-4597}"
	@echo "runner: try  curl -s http://$${RUNNER_HOST:-127.0.0.1}:$${RUNNER_PORT:-4597}/readyz"
	@rm -rf .run/metrics && mkdir -p .run/metrics
	RUNNER_REDIS_URL=$${RUNNER_REDIS_URL:-redis://127.0.0.1:$${RUNNER_REDIS_PORT:-6380}/0} \
	  PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.run/metrics \
	  PATH=$(CURDIR)/.venv/bin:$$PATH .venv/bin/honcho start -f Procfile

# A Python kata goes red, amber, green on the service that `make up` runs in another terminal.
demo:
	$(PY) -m client.demo

bootstrap:
	@bash scripts/bootstrap.sh

lint: bootstrap
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	@# The runner's scripts as they run (the preamble of exit codes and paths, then the file),
	@# so their line numbers are 3 more than the file's.
	$(PY) -m worker.scripts .run/shellcheck
	shellcheck --shell=sh .run/shellcheck/run.sh .run/shellcheck/admin.sh
	shellcheck scripts/*.sh images/build.sh

images:
	bash images/build.sh

stop-engine:
	bash scripts/engine.sh stop

# docker-compose.yml for real on this host: build, up, one kata through the API, down (PASS/FAIL).
.PHONY: compose-check
compose-check: bootstrap
	bash scripts/compose-check.sh

# The runner against the raw docker floor (not part of `make test`): prints the figures and
# writes them to bench/RESULTS.md.
.PHONY: bench
bench: bootstrap
	$(PY) -m bench
