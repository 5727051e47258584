#!/usr/bin/env bash
# Makes this machine ready to run and test the runner, doing only what is missing:
# Debian packages, a docker engine, the venv with the pinned requirements, the local images;
# the Makefile then builds the agent.
# A second run finds everything in place and takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.run   # ignored by git: the engine's pid and log, stamps
mkdir -p "$state"

say() { printf 'bootstrap: %s\n' "$*"; }

# 1. Debian packages, when a command they provide is missing.
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v debootstrap >/dev/null || missing+=(debootstrap)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
dpkg -s bash-static >/dev/null 2>&1 || missing+=(bash-static)  # the shell image's bash
command -v docker-registry >/dev/null || missing+=(docker-registry)  # tests pull from it
command -v shellcheck >/dev/null || missing+=(shellcheck)  # make lint
command -v dash >/dev/null || missing+=(dash)  # the scripts' tests run them under dash too
command -v ruby >/dev/null || missing+=(ruby)  # a test checks the lambda translation against Ruby
command -v go >/dev/null || missing+=(golang-go)  # the agent (agent/) is built from source
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { say "need root to install ${missing[*]}"; exit 1; }
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. A docker engine: use the one that answers, else start one (no bridge: run containers
#    have no network, and nothing here may leave loopback).
if ! timeout 10 docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { say "no docker engine answers, and starting one needs root"; exit 1; }
  say "starting dockerd (log: $state/dockerd.log)"
  nohup dockerd --bridge=none --iptables=false --pidfile "$PWD/$state/dockerd.pid" \
    > "$state/dockerd.log" 2>&1 &
  for _ in $(seq 60); do
    timeout 5 docker info >/dev/null 2>&1 && break
    sleep 1
  done
  timeout 10 docker info >/dev/null 2>&1 || { say "dockerd did not start:"; tail -20 "$state/dockerd.log"; exit 1; }
fi

# 2b. Loop devices: every kata's volume is a filesystem of its own on one (sandbox/disk.sh).
if [ ! -e /dev/loop-control ]; then
  [ "$(id -u)" = 0 ] || { say "no loop devices (/dev/loop-control), and loading them needs root"; exit 1; }
  say "loading the loop module"
  modprobe loop || { say "no loop devices: set RUNNER_KATA_DISK_BYTES=0 for plain volumes"; exit 1; }
fi

# 3. The venv, reinstalled when a requirements file changes.
stamp=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$state/venv.stamp" 2>/dev/null)" != "$stamp" ]; then
  say "installing the pinned requirements into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  .venv/bin/pip check >/dev/null || { say "the pinned requirements conflict:"; .venv/bin/pip check; exit 1; }
  echo "$stamp" > "$state/venv.stamp"
fi

# 4. The local language images and the Ruby judge's image, built when missing.
bash images/build.sh --if-missing
