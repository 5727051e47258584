# The admin script: short steps on a kata's volume, in a container of the helper image.
# Usage: admin.sh STEP ARGS. Steps marked (root) run as root; the others as the avatar's uid.
# Nothing here runs as root over a path that user code could have touched: root only makes
# /sandboxes, /sandboxes/.runner and the avatar folder itself (inside root-owned /sandboxes),
# and removes that folder once the avatar's uid has emptied it.
set -u
step=$1; shift

# The run script from stdin into .runner/NAME, whole or not at all: a run sources whatever
# file has that name, so a cut one must never appear there.
install_script() {
  cat > "/sandboxes/.runner/.$1.part" &&
  chmod 644 "/sandboxes/.runner/.$1.part" &&
  mv -f "/sandboxes/.runner/.$1.part" "/sandboxes/.runner/$1"
}
case $step in
  kata)  # (root) NOW SCRIPT: the layout of a kata's volume, its hello time, the run script
    mkdir -p /sandboxes/.runner &&
    { rmdir /sandboxes/lost+found 2>/dev/null; true; } &&  # a kata's disk is a new ext2
    chmod 755 /sandboxes /sandboxes/.runner &&
    printf '%s\n' "$1" > /sandboxes/.runner/hello_at &&
    install_script "$2" ;;
  script)  # (root) SCRIPT: the run script, for a volume laid out without this version of it
    [ -d /sandboxes/.runner ] || exit 93
    install_script "$1" ;;
  avatar)  # (root) AVATAR UID NOW: the avatar's folder, owned by its uid, and the hello time
    [ -d /sandboxes/.runner ] || exit 93
    mkdir -p "/sandboxes/$1" &&
    { [ "$(stat -c %u "/sandboxes/$1")" = "$2" ] || chmod 700 "/sandboxes/$1"; } &&
    chown "$2:5000" "/sandboxes/$1" &&
    printf '%s\n' "$3" > /sandboxes/.runner/hello_at ;;
  fill)  # AVATAR: empties the sandbox, then unpacks the files/ of the tar on stdin into it
    cd "/sandboxes/$1" || exit 91
    chmod -R u+rwX . 2>/dev/null
    find . -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + || exit 94
    mkdir -m 700 /tmp/in && tar -x -f - -C /tmp/in || exit 92
    if [ -d /tmp/in/files ]; then
      (cd /tmp/in/files && tar -c -f - .) | tar -x -f - || exit 95
    fi
    chmod 700 . ;;
  empty)  # AVATAR: empties the sandbox (exit 91 when there is none)
    cd "/sandboxes/$1" || exit 91
    chmod -R u+rwX . 2>/dev/null
    find . -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + || exit 94 ;;
  remove)  # (root) AVATAR: removes the emptied sandbox folder
    [ ! -e "/sandboxes/$1" ] || rmdir "/sandboxes/$1" ;;
  *) echo "admin.sh: no step $step" >&2; exit 2 ;;
esac
