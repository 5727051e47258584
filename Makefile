# One command runs the same checks everywhere: `make test`, locally and in CI.
.PHONY: test up demo bootstrap lint images stop-engine worker-host drain-host undrain-host hosts

PY := .venv/bin/python

test: bootstrap
	cd agent && GOPROXY=off go test ./...
	$(PY) -m pytest

# The whole service in the foreground (Ctrl-C stops it): Redis, API, worker, beat.
up: bootstrap
	@echo "runner: the API will listen on http://$${RUNNER_HOST:-127.0.0.1}:$${RUNNER_PORT:-4597}"
	@echo "runner: try  curl -s http://$${RUNNER_HOST:-127.0.0.1}:$${RUNNER_PORT:-4597}/readyz"
	@rm -rf .run/metrics && mkdir -p .run/metrics
	RUNNER_REDIS_URL=$${RUNNER_REDIS_URL:-redis://127.0.0.1:$${RUNNER_REDIS_PORT:-6380}/0} \
	  PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.run/metrics \
	  PATH=$(CURDIR)/.venv/bin:$$PATH .venv/bin/honcho start -f Procfile

# Another docker host's workers, in the foreground (Ctrl-C stops them), on the Redis of
# RUNNER_REDIS_URL: the local images made present on its engine first.
#   make worker-host HOST_NAME=b DOCKER_HOST=unix:///path/to/b.sock
# Not after bootstrap: make hands DOCKER_HOST to every recipe, and bootstrap's engine and
# images are this machine's own (`make bootstrap` first on a fresh clone).
worker-host:
	@test -n "$(HOST_NAME)" && test -n "$(DOCKER_HOST)" || \
	  { echo "usage: make worker-host HOST_NAME=b DOCKER_HOST=unix:///path/to/b.sock"; exit 2; }
	@test -x .venv/bin/celery || { echo "worker-host: run make bootstrap first"; exit 1; }
	DOCKER_HOST=$(DOCKER_HOST) bash scripts/host-images.sh
	RUNNER_REDIS_URL=$${RUNNER_REDIS_URL:-redis://127.0.0.1:$${RUNNER_REDIS_PORT:-6380}/0} \
	  RUNNER_HOST_NAME=$(HOST_NAME) RUNNER_DOCKER_HOST=$(DOCKER_HOST) \
	  exec .venv/bin/celery -A worker.app worker --loglevel $${RUNNER_LOG_LEVEL:-INFO} \
	  --concurrency $${RUNNER_CONCURRENCY:-2} --hostname $(HOST_NAME)@%h \
	  --without-gossip --without-mingle

# The hosts as Redis knows them; a host marked draining gets no new kata.
hosts:
	$(PY) -m runner.hosts list
drain-host:
	$(PY) -m runner.hosts drain $(HOST_NAME)
undrain-host:
	$(PY) -m runner.hosts undrain $(HOST_NAME)

# A Python kata goes red, amber, green on the service that `make up` runs in another terminal.
demo:
	$(PY) -m client.demo

bootstrap:
	@bash scripts/bootstrap.sh
	@$(MAKE) -s agent/bin/agent

# The agent, static (no cgo), from the Go standard library alone: nothing is downloaded.
agent/bin/agent: agent/go.mod $(wildcard agent/*.go)
	cd agent && CGO_ENABLED=0 GOPROXY=off go build -trimpath -ldflags='-s -w' -o bin/agent .

lint: bootstrap
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	@# disk.sh as it runs (the preamble of exit codes, then the file), so its line numbers
	@# are 3 more than the file's.
	$(PY) -m sandbox.scripts .run/shellcheck
	shellcheck --shell=sh .run/shellcheck/disk.sh
	cd agent && test -z "$$(gofmt -l .)" && GOPROXY=off go vet ./...
	shellcheck scripts/*.sh images/build.sh images/bash-unit/bash_unit

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
	$(PY) -m bench.hosts

# A mixed hostile load with the four faults against a runner of its own, for MINUTES minutes of
# load (not part of `make test`): prints lost, wrong, out-of-order and leaked counts, and fails
# when any is not 0.   make soak MINUTES=10
MINUTES ?= 10
.PHONY: soak
soak: bootstrap
	$(PY) -m bench.soak --minutes $(MINUTES)
