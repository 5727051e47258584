# The run script. It runs inside the run container, as the avatar's uid, with a POSIX sh.
# Arguments: max_seconds, output cap (bytes kept + 1) and file cap (bytes kept + 1).
# stdin:  a tar of `deleted` (NUL-separated filenames) and `files/<filename>...`.
# stdout: result frames (worker/protocol.py): a kind letter, a name, NUL, a size, newline,
#         then size bytes of content.
# Everything here runs as the avatar's uid, so every file operation is bounded by the
# permissions of that uid: a planted symlink cannot lead it into another avatar's sandbox,
# /sandboxes/.runner or the read-only root filesystem.
set -u
max_seconds=$1 out_cap=$2 file_cap=$3
r=/tmp/.runner
mkdir -m 700 "$r" "$r/in" "$r/before" || exit 90
cd "$CYBER_DOJO_SANDBOX" 2>/dev/null || exit 91
tar -x -f - -C "$r/in" || exit 92

# The request: deletions first, then writes.
if [ -s "$r/in/deleted" ]; then
  xargs -0 rm -f -- < "$r/in/deleted" 2>/dev/null
fi
if [ -d "$r/in/files" ]; then
  (cd "$r/in/files" && tar -c -f - .) | tar -x -f - 2>/dev/null
fi
chmod 700 .   # extracting `./` copied the staging folder's mode onto the sandbox

# Records the md5 of every regular file under . in a mirror tree under $1.
# find does not follow symlinks, and lists no fifo or device as a file.
find . -type f -exec sh -c '
  for f; do
    d=$0/${f%/*}
    [ -d "$d" ] || mkdir -p "$d"
    md5sum < "$f" > "$0/$f" 2>/dev/null
  done' "$r/before" {} +

# Output is drained as it streams: the first out_cap bytes kept, the rest read and dropped,
# so a flood costs neither memory nor disk, and the writer never sees a broken pipe.
mkfifo "$r/o" "$r/e"
{ head -c "$out_cap" > "$r/stdout"; cat > /dev/null; } < "$r/o" &
po=$!
{ head -c "$out_cap" > "$r/stderr"; cat > /dev/null; } < "$r/e" &
pe=$!

read -r up _ < /proc/uptime
started=${up%.*}${up#*.}
sh ./cyber-dojo.sh > "$r/o" 2> "$r/e" < /dev/null &
child=$!
{ sleep "$max_seconds"; : > "$r/timed_out"; kill -9 "$child"; } 2>/dev/null &
wait "$child" 2>/dev/null
status=$?
read -r up _ < /proc/uptime
ended=${up%.*}${up#*.}

# SIGKILLs every process but init, this shell and the drainers (and their children),
# until a pass finds none: background jobs, the timer, anything that escaped its group.
kill_others() {
  while :; do
    killed=0
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      case $p in 1|$$|$po|$pe) continue ;; esac
      { read -r stat < "/proc/$p/stat"; } 2>/dev/null || continue
      set -- ${stat##*) }
      case ${2-} in $po|$pe) continue ;; esac
      kill -9 "$p" 2>/dev/null && killed=1
    done
    [ "$killed" = 0 ] && return
  done
}
kill_others
wait "$po" "$pe"

frame() {  # kind, name, file holding the content (or nothing)
  if [ -n "${3-}" ]; then
    printf '%s%s\0%s\n' "$1" "$2" "$(wc -c < "$3")"
    cat "$3"
  else
    printf '%s%s\0%s\n' "$1" "$2" 0
  fi
}
frame S "$status"
frame U "$(( (ended - started) * 10 ))"
[ -e "$r/timed_out" ] && frame T 1
frame O '' "$r/stdout"
frame E '' "$r/stderr"

# Created and changed regular files, by their md5 before and after the run.
find . -type f -exec sh -c '
  r=$0 cap=$1; shift
  for f; do
    h=$(md5sum < "$f" 2>/dev/null) || continue
    kind=C
    if [ -f "$r/before/$f" ]; then
      read -r old < "$r/before/$f"
      [ "$old" = "$h" ] && continue
      kind=M
    fi
    head -c "$cap" < "$f" > "$r/chunk"
    printf "%s%s\0%s\n" "$kind" "${f#./}" "$(wc -c < "$r/chunk")"
    cat "$r/chunk"
  done' "$r" "$file_cap" {} +

# Deleted: files recorded before the run that are no longer regular files.
sandbox=$PWD
cd "$r/before" && find . -type f -exec sh -c '
  for f; do
    [ -f "$0/$f" ] && [ ! -L "$0/$f" ] || printf "X%s\0%s\n" "${f#./}" 0
  done' "$sandbox" {} +
exit 0
