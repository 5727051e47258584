#!/usr/bin/env bash
# Builds the local language images without a registry: a root filesystem made here,
# `docker import`ed as a base, then `docker build` on top with the colour rules as a label.
# The language images follow the contract cyber-dojo's image_dockerfile_augmenter gives its
# images: group sandbox (51966), user sandbox (41966, home /home/sandbox, shell bash), bash.
# An image is built again when its recipe (this file and its folder) changed.
# Usage: images/build.sh [--if-missing] [shell|python-pytest|ruby-judge|runner-base ...]
#   default: the language images (shell, python-pytest) and the image of the workers' Ruby
#   judge (ruby-judge). runner-base, the local base of the runner's own image and of its
#   Redis (docker-compose.local.yml), is built only when named.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=cyber-dojo-local
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RANDOM_ORDER=pytest-random-order==1.2.0
suite=${DEBIAN_SUITE:-bookworm}
export DOCKER_BUILDKIT=0   # the classic builder uses the imported base as it is, no registry

if_missing=false
if [ "${1:-}" = --if-missing ]; then if_missing=true; shift; fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(shell python-pytest ruby-judge)

rootfs_shell() {  # $1: empty folder to fill
  local root=$1
  mkdir -p "$root"/{bin,etc,tmp,sandboxes,home/sandbox}
  chmod 1777 "$root/tmp"
  static "$(command -v busybox)" "$root/bin/busybox" busybox-static
  static "$(command -v bash-static)" "$root/bin/bash" bash-static
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'sandbox:x:41966:51966::/home/sandbox:/bin/bash' \
    'nobody:x:65534:65534:nobody:/:/bin/false' > "$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'avatars:x:5000:' 'sandbox:x:51966:' 'nogroup:x:65534:' > "$root/etc/group"
  chown 41966:51966 "$root/home/sandbox"
}

static() {  # binary, its place in the image, the Debian package that gives it static
  case $(LC_ALL=C ldd "$1" 2>&1 || true) in
    *"not a dynamic"*) cp "$1" "$2" ;;
    *) echo "$1 is not static: install $3" >&2; exit 1 ;;
  esac
}

rootfs_python-pytest() {  # $1: empty folder to fill
  local root=$1
  # What cyber-dojo's python-pytest start-point calls: pytest, coverage, mypy, pycodestyle;
  # file, as the augmenter adds it.
  debootstrap --variant=minbase \
    --include=python3-pytest,python3-coverage,mypy,pycodestyle,file "$suite" "$root" "$mirror" >&2
  chroot "$root" groupadd --gid 5000 avatars
  chroot "$root" groupadd --gid 51966 sandbox
  chroot "$root" useradd --uid 41966 --gid 51966 --create-home --home-dir /home/sandbox \
    --shell /bin/bash sandbox
  ln -s python3-coverage "$root/usr/bin/coverage"  # Debian names it so; pip names it coverage
  # A pytest plugin Debian lacks, which the start-point's --random-order-bucket needs: its
  # pure-Python wheel from PyPI, unpacked where Debian's python3 looks.
  local wheels site=$root/usr/local/lib/python3.11/dist-packages
  wheels=$(mktemp -d)
  "$here/../.venv/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" \
    "$RANDOM_ORDER" >&2
  mkdir -p "$site"
  "$here/../.venv/bin/python" -m zipfile -e "$wheels"/*.whl "$site"
  rm -rf "$wheels"
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
  local recipe
  recipe=$(cat "$here/build.sh" "$here/$name"/* | sha256sum | cut -c1-12)
  if $if_missing && [ "$(docker image inspect -f '{{ index .Config.Labels "org.cyber-dojo.runner.recipe" }}' "$image" 2>/dev/null)" = "$recipe" ]; then
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
  docker build -q --build-arg "BASE=$base" "${label[@]}" \
    --label "org.cyber-dojo.runner.recipe=$recipe" -t "$image" "$here/$name" >/dev/null
  echo "built $image in $((SECONDS - started)) s"
}

for name in "${names[@]}"; do build "$name"; done
