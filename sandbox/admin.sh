# The admin script: short steps on a kata's volume, in a container of the helper image, after
# the preamble sandbox/scripts.py puts before it: the exit codes (EXIT_...), the volume's mount
# ($SANDBOXES), its .runner folder ($RUNNER_FOLDER), the sandboxes' group ($SANDBOX_GID) and a
# staging folder in the container's own /tmp ($STAGING).
# Usage: admin.sh STEP ARGS. Steps marked (root) run as root; the others as the avatar's uid.
# Nothing here runs as root over a path that user code could have touched: root only makes
# $SANDBOXES, $RUNNER_FOLDER and the avatar folder itself (inside root-owned $SANDBOXES), and
# removes that folder once the avatar's uid has emptied it.
set -u

main() {  # step, args
  step=${1-}
  case $step in
    kata | script | avatar | fill | empty | remove) shift; "step_$step" "$@" ;;
    *) echo "admin.sh: no step $step" >&2; exit "$EXIT_NO_STEP" ;;
  esac
}

step_kata() {  # (root) NOW SCRIPT: the layout of a kata's volume, its hello time, the run script
  mkdir -p "$RUNNER_FOLDER" &&
    { rmdir "$SANDBOXES/lost+found" 2>/dev/null; true; } &&  # a kata's disk is a new ext2
    chmod 755 "$SANDBOXES" "$RUNNER_FOLDER" &&
    printf '%s\n' "$1" > "$RUNNER_FOLDER/hello_at" &&
    install_script "$2"
}

step_script() {  # (root) SCRIPT: the run script, for a volume laid out without this version of it
  require_layout
  install_script "$1"
}

step_avatar() {  # (root) AVATAR UID NOW: the avatar's folder, owned by its uid, and the hello time
  require_layout
  mkdir -p "$SANDBOXES/$1" &&
    { [ "$(stat -c %u "$SANDBOXES/$1")" = "$2" ] || chmod 700 "$SANDBOXES/$1"; } &&
    chown "$2:$SANDBOX_GID" "$SANDBOXES/$1" &&
    printf '%s\n' "$3" > "$RUNNER_FOLDER/hello_at"
}

step_fill() {  # AVATAR: empties the sandbox, then unpacks the files/ of the tar on stdin into it
  empty_sandbox "$1"
  mkdir -m 700 "$STAGING" && tar -x -f - -C "$STAGING" || exit "$EXIT_BAD_REQUEST"
  if [ -d "$STAGING/files" ]; then
    (cd "$STAGING/files" && tar -c -f - .) | tar -x -f - || exit "$EXIT_NOT_FILLED"
  fi
  chmod 700 .   # extracting `./` copied the staging folder's mode onto the sandbox
}

step_empty() {  # AVATAR: empties the sandbox
  empty_sandbox "$1"
}

step_remove() {  # (root) AVATAR: removes the emptied sandbox folder
  [ ! -e "$SANDBOXES/$1" ] || rmdir "$SANDBOXES/$1"
}

# The avatar's sandbox becomes the working folder, emptied of everything, whatever its modes.
empty_sandbox() {  # avatar
  cd "$SANDBOXES/$1" || exit "$EXIT_NO_SANDBOX"
  chmod -R u+rwX . 2>/dev/null
  find . -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + || exit "$EXIT_NOT_EMPTIED"
}

require_layout() {  # a volume without .runner was never laid out by the kata step
  [ -d "$RUNNER_FOLDER" ] || exit "$EXIT_NO_LAYOUT"
}

# The run script from stdin into .runner/NAME, whole or not at all: a run sources whatever
# file has that name, so a cut one must never appear there.
install_script() {  # name
  cat > "$RUNNER_FOLDER/.$1.part" &&
    chmod 644 "$RUNNER_FOLDER/.$1.part" &&
    mv -f "$RUNNER_FOLDER/.$1.part" "$RUNNER_FOLDER/$1"
}

main "$@"
