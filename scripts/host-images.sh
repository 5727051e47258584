#!/usr/bin/env bash
# Makes the local language images and the Ruby judge's image present on the engine that
# DOCKER_HOST names: copied from the default engine when it holds them, else built there
# (images/build.sh --if-missing).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${DOCKER_HOST:?DOCKER_HOST names the host engine}
images=(cyber-dojo-local/shell:latest cyber-dojo-local/python-pytest:latest cyber-dojo-local/ruby-judge:latest)
missing=()
for image in "${images[@]}"; do
  docker --host "$target" image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
done
[ ${#missing[@]} -gt 0 ] || { echo "host images: all present on $target"; exit 0; }
if env -u DOCKER_HOST docker image inspect "${missing[@]}" >/dev/null 2>&1; then
  echo "host images: copying ${missing[*]} from the default engine to $target"
  env -u DOCKER_HOST docker save "${missing[@]}" | docker --host "$target" load -q
else
  echo "host images: building the missing images on $target"
  DOCKER_HOST=$target bash images/build.sh --if-missing
fi
