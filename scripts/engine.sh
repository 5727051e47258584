#!/usr/bin/env bash
# Stops the docker engine that scripts/bootstrap.sh started (by its own pid), if it did.
set -euo pipefail
cd "$(dirname "$0")/.."
pidfile=.run/dockerd.pid
if [ "${1:-}" = stop ] && [ -s "$pidfile" ]; then
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  echo "stopped dockerd $pid"
else
  echo "usage: scripts/engine.sh stop   (stops only an engine that bootstrap started)"
fi
