#!/usr/bin/env bash
# Builds the local language images without a registry: a root filesystem made here,
# `docker import`ed as a base, then `docker build` on top with the colour rules as a label
# (or the image's own red_amber_green.rb, as cyber-dojo's images carry their lambda).
# The language images follow the contract cyber-dojo's image_dockerfile_augmenter gives its
# images: group sandbox (51966), user sandbox (41966, home /home/sandbox, shell bash), bash,
# coreutils, tar, file (the shell image's busybox stands in for coreutils and tar, without
# file); and they hold what their start-point's cyber-dojo.sh calls.
# Images of one family share one base (its root filesystem is made once): python-* the
# python one, bash-* the bash one, gcc-* the gcc one.
# An image is built again when its recipe (this file, its Dockerfile and its folder) changed;
# a base, when the functions that make its root filesystem did.
# Usage: images/build.sh [--if-missing] [NAME ...]
#   default: the language images and the image of the workers' Ruby judge (ruby-judge).
#   runner-base, the local base of the runner's own image and of its Redis
#   (docker-compose.local.yml), is built only when named.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=cyber-dojo-local
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RANDOM_ORDER=pytest-random-order==1.2.0
suite=${DEBIAN_SUITE:-bookworm}
# cyber-dojo's python start-points are written for Python 3.14 (their `self: Hiker` inside
# `class Hiker` needs its lazily evaluated annotations), which Debian has in testing.
python_suite=${DEBIAN_PYTHON_SUITE:-testing}
export DOCKER_BUILDKIT=0   # the classic builder uses the imported base as it is, no registry
LANGUAGES=(shell python-pytest python-unittest python-assert bash-bats bash-shunit2 bash-unit gcc-assert)

if_missing=false
if [ "${1:-}" = --if-missing ]; then if_missing=true; shift; fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${LANGUAGES[@]}" ruby-judge)

family() {  # $1: image folder name; prints the name of its root filesystem
  case $1 in
    python-*) echo python ;;
    bash-*) echo bash ;;
    gcc-*) echo gcc ;;
    *) echo "$1" ;;
  esac
}

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

debian() {  # $1: empty folder to fill, $2: suite, then Debian packages; the augmenter's user
  local root=$1 release=$2
  shift 2
  local packages
  packages=$(IFS=,; echo "file,$*")
  debootstrap --variant=minbase --include="$packages" "$release" "$root" "$mirror" >&2
  chroot "$root" groupadd --gid 5000 avatars
  chroot "$root" groupadd --gid 51966 sandbox
  chroot "$root" useradd --uid 41966 --gid 51966 --create-home --home-dir /home/sandbox \
    --shell /bin/bash sandbox
  mkdir -p "$root/sandboxes"
}

slim() {  # $1: a root filesystem; drops what only apt and readers need
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*
}

rootfs_python() {  # $1: empty folder to fill
  local root=$1
  # What cyber-dojo's python start-points (pytest, unittest, assert) call: pytest, coverage,
  # mypy, pycodestyle.
  debian "$root" "$python_suite" python3-pytest python3-coverage mypy pycodestyle
  # Debian names it python3-coverage; pip names it coverage and coverage3.
  local name
  for name in coverage coverage3; do
    [ -e "$root/usr/bin/$name" ] || ln -s python3-coverage "$root/usr/bin/$name"
  done
  # A pytest plugin Debian lacks, which the start-point's --random-order-bucket needs: its
  # pure-Python wheel from PyPI, unpacked where Debian's python3 looks.
  local wheels site python
  python=$(chroot "$root" python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
  site=$root/usr/local/lib/$python/dist-packages
  wheels=$(mktemp -d)
  "$here/../.venv/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" \
    "$RANDOM_ORDER" >&2
  mkdir -p "$site"
  "$here/../.venv/bin/python" -m zipfile -e "$wheels"/*.whl "$site"
  rm -rf "$wheels"
  slim "$root"
}

rootfs_bash() {  # $1: empty folder to fill
  # What cyber-dojo's bash start-points call: bats, shunit2 (as Debian packages them), and
  # bash_unit (images/bash-unit/).
  debian "$1" "$suite" bats shunit2
  slim "$1"
}

rootfs_gcc() {  # $1: empty folder to fill
  # What cyber-dojo's gcc-assert start-point calls: make, gcc and its C library, gcovr.
  debian "$1" "$suite" gcc libc6-dev make gcovr
  slim "$1"
}

rootfs_ruby-judge() {  # $1: empty folder to fill
  local root=$1
  debootstrap --variant=minbase --include=ruby "$suite" "$root" "$mirror" >&2
  slim "$root"
}

rootfs_runner-base() {  # $1: empty folder to fill
  local root=$1
  debootstrap --variant=minbase --include=python3-venv,redis-server "$suite" "$root" "$mirror" >&2
  # A venv first on PATH (images/runner-base/Dockerfile): `python3 -m pip install` installs
  # there, as on a python image, instead of into the system's externally managed python.
  chroot "$root" python3 -m venv /opt/venv
  slim "$root"
}

recipe_of() {  # image: its recipe label, or nothing
  docker image inspect -f '{{ index .Config.Labels "org.cyber-dojo.runner.recipe" }}' "$1" 2>/dev/null || true
}

declare -A based=()  # the families whose base this run made or found current
base() {  # $1: family; makes its base image unless this run did, or it is current
  local family=$1 image="$prefix/$1-base:latest" recipe started=$SECONDS
  [ -z "${based[$family]:-}" ] || return 0
  based[$family]=yes
  # Its recipe: the functions that make it and what they read, not the rest of this file.
  recipe=$( { declare -f "rootfs_$family" debian slim static
              echo "$suite $python_suite $RANDOM_ORDER"; } | sha256sum | cut -c1-12)
  if $if_missing && [ "$(recipe_of "$image")" = "$recipe" ]; then return; fi
  echo "building $image ..."
  rm -rf "$work/rootfs"
  "rootfs_$family" "$work/rootfs"
  tar --numeric-owner -C "$work/rootfs" -c . |
    docker import --change "LABEL org.cyber-dojo.runner.recipe=$recipe" - "$image" >/dev/null
  rm -rf "$work/rootfs"
  echo "built $image in $((SECONDS - started)) s"
}

build() {  # $1: image folder name
  local name=$1 image="$prefix/$1:latest" family recipe started=$SECONDS
  local dockerfile=$here/$name/Dockerfile  # else the folder's files on the family's base
  [ -f "$dockerfile" ] || dockerfile=$here/language.Dockerfile
  family=$(family "$name")
  recipe=$(cat "$here/build.sh" "$dockerfile" "$here/$name"/* | sha256sum | cut -c1-12)
  if $if_missing && [ "$(recipe_of "$image")" = "$recipe" ]; then
    echo "image $image is present"; return
  fi
  base "$family"
  echo "building $image ..."
  local label=()  # a language image's colour rules, when it has them as a label
  [ ! -f "$here/$name/colour_rules.json" ] ||
    label=(--label "org.cyber-dojo.runner.colour-rules=$(cat "$here/$name/colour_rules.json")")
  docker build -q -f "$dockerfile" --build-arg "BASE=$prefix/$family-base:latest" "${label[@]}" \
    --label "org.cyber-dojo.runner.recipe=$recipe" -t "$image" "$here/$name" >/dev/null
  echo "built $image in $((SECONDS - started)) s"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in "${names[@]}"; do build "$name"; done
