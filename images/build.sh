#!/usr/bin/env bash
# Builds the local language images without a registry: a root filesystem made here,
# `docker import`ed as a base, then `docker build` on top with the colour rules as a label.
# Usage: images/build.sh [--if-missing] [shell|python-pytest|ruby-judge|runner-base ...]
#   default: the language images (shell, python-pytest) and the image of the workers' Ruby
#   judge (ruby-judge). runner-base, the local base of the runner's own image and of its
#   Redis (docker-compose.local.yml), is built only when named.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=cyber-dojo-local
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
export DOCKER_BUILDKIT=0   # the classic builder uses the imported base as it is, no registry

if_missing=false
if [ "${1:-}" = --if-missing ]; then if_missing=true; shift; fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(shell python-pytest ruby-judge)

rootfs_shell() {  # $1: empty folder to fill
  local root=$1
  mkdir -p "$root"/{bin,etc,tmp,sandboxes}
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  case $(LC_ALL=C ldd "$root/bin/busybox" 2>&1 || true) in
    *"not a dynamic"*) ;;
    *) echo "busybox is not static: install busybox-static" >&2; exit 1 ;;
  esac
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nsandbox:x:5000:\nnogroup:x:65534:\n' > "$root/etc/group"
}

rootfs_python-pytest() {  # $1: empty folder to fill
  local root=$1
  debootstrap --variant=minbase --include=python3-pytest "$suite" "$root" "$mirror" >&2
  chroot "$root" groupadd --gid 5000 sandbox
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  mkdir -p "$root/sandboxes"
}

rootfs_ruby-judge() {  # $1: empty folder to fill
  local root=$1
  debootstrap --variant=minbase --include=ruby "$suite" "$root" "$mirror" >&2
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
}

rootfs_runner-base() {  # $1: empty folder to fill
  local root=$1
  debootstrap --variant=minbase --include=python3-venv,redis-server "$suite" "$root" "$mirror" >&2
  # A venv first on PATH (images/runner-base/Dockerfile): `python3 -m pip install` installs
  # there, as on a python image, instead of into the system's externally managed python.
  chroot "$root" python3 -m venv /opt/venv
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
}

build() {  # $1: image folder name
  local name=$1 image="$prefix/$1:latest" base="$prefix/$1-base:latest"
  if $if_missing && docker image inspect "$image" >/dev/null 2>&1; then
    echo "image $image is present"; return
  fi
  local started=$SECONDS work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  echo "building $image ..."
  "rootfs_$name" "$work/rootfs"
  tar --numeric-owner -C "$work/rootfs" -c . | docker import - "$base" >/dev/null
  local label=()  # a language image's colour rules; runner-base has none
  [ ! -f "$here/$name/colour_rules.json" ] ||
    label=(--label "org.cyber-dojo.runner.colour-rules=$(cat "$here/$name/colour_rules.json")")
  docker build -q --build-arg "BASE=$base" "${label[@]}" -t "$image" "$here/$name" >/dev/null
  echo "built $image in $((SECONDS - started)) s"
}

for name in "${names[@]}"; do build "$name"; done
