# The run script. It runs inside the run container, as the avatar's uid, with a POSIX sh,
# after the preamble worker/scripts.py puts before it: the exit codes (EXIT_...), the run's
# bookkeeping folder ($WORK, in the container's own /tmp) and where the processes ($PROC) and
# the memory cgroup ($CGROUP) are read.
# Arguments: max_seconds, the output cap (bytes kept + 1), the file cap (bytes kept + 1), what
# stdin holds, then the filenames to delete:
#   none    nothing;
#   files   a tar of the changed files, extracted straight into the sandbox;
#   staged  a tar of `deleted/<n>/<filename>` (an empty file in a folder of its own for each
#           filename to delete, when there are more than arguments can hold) and
#           `files/<filename>...`.
# stdout: the report (worker/protocol.py): headers, each a kind letter, a name, NUL, a size and
#         a newline; an end header `.`; then the contents of the headers, in their order.
# Everything here runs as the avatar's uid, so every file operation is bounded by the
# permissions of that uid: a planted symlink cannot lead it into another avatar's sandbox,
# /sandboxes/.runner or the read-only root filesystem.
# A process costs about a millisecond (more with coreutils than busybox), so the script starts
# few, and no more for more files: about twenty for a run that changes nothing, two more for
# any number of created or changed files.
set -u
max_seconds=$1 out_cap=$2 file_cap=$3 request=$4
shift 4
r=$WORK
nl='
'
mkdir -m 700 "$r" "$r/before" || exit "$EXIT_NO_WORK_FOLDER"
cd "$CYBER_DOJO_SANDBOX" 2>/dev/null || exit "$EXIT_NO_SANDBOX"

# Removes the files named by the staged deleted/<n>/<filename>: globs find each name, so none
# is ever parsed; rm takes them in batches of about 64 KiB.
remove_staged() {
  n=0 size=0
  for d in "$r/in/deleted"/*; do
    f=$d
    while [ -d "$f" ]; do
      for e in "$f"/* "$f"/.[!.]* "$f"/..?*; do [ -e "$e" ] && break; done
      f=$e
    done
    n=$((n + 1)) size=$((size + ${#f}))
    eval "gone$n=\${f#\"\$d\"/}"
    [ "$size" -lt 65536 ] || remove_batch
  done
  remove_batch
}
remove_batch() {
  [ "$n" -gt 0 ] || return 0
  list= i=1
  while [ "$i" -le "$n" ]; do list="$list \"\$gone$i\""; i=$((i + 1)); done
  eval "rm -f -- $list" 2>/dev/null
  n=0 size=0
}

# The request: deletions first, then writes.
[ $# -gt 0 ] && rm -f -- "$@" 2>/dev/null
case $request in
  files) tar -x -f - 2>/dev/null ;;
  staged)
    mkdir "$r/in" && tar -x -f - -C "$r/in" || exit "$EXIT_BAD_REQUEST"
    [ -d "$r/in/deleted" ] && remove_staged
    if [ -d "$r/in/files" ]; then
      (cd "$r/in/files" && tar -c -f - .) | tar -x -f - 2>/dev/null
      chmod 700 .   # extracting `./` copied the staging folder's mode onto the sandbox
    fi ;;
esac

# Every regular file under . (not through a symlink; no fifo or device) as ./name: plain
# names go, a line each, into $plain, and their folders into $dirs; odd names (a control
# character or a backslash, which md5sum would split or escape) go to `odd` one by one.
# Globs and tests are shell builtins.
walk() {
  for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    if [ -L "$f" ]; then
      :
    elif [ -f "$f" ]; then
      case $f in
        *[[:cntrl:]]* | *\\*) odd "$f" ;;
        *) plain=$plain$nl$f ;;
      esac
    elif [ -d "$f" ]; then
      case $f in *[[:cntrl:]]* | *\\*) ;; *) dirs=$dirs$nl$r/before/$f ;; esac
      walk "$f"
    fi
  done
}

# Writes "md5  ./name" for every plain file into $1, by one md5sum over all of them.
hash_plain() {
  : > "$1"
  [ -z "$plain" ] && return
  set -f; IFS=$nl
  md5sum -- $plain > "$1" 2>/dev/null
  unset IFS; set +f
}

# Before the run, the md5 of every file goes into the mirror tree $r/before: a file of the
# same name holding it. The plain ones are listed in $r/listed too.
odd() {
  d=$r/before/${1%/*}
  [ -d "$d" ] || mkdir -p "$d"
  md5sum < "$1" > "$r/before/$1" 2>/dev/null
  : > "$r/odd"
}
plain= dirs=
walk .
if [ -n "$dirs" ]; then
  set -f; IFS=$nl
  mkdir -p -- $dirs
  unset IFS; set +f
fi
hash_plain "$r/listed"
while IFS= read -r line; do
  printf '%s\n' "${line%%  *}" > "$r/before/${line#*  }"
done < "$r/listed"

# Output is drained as it streams: the first out_cap bytes kept, the rest read and dropped,
# so a flood costs neither memory nor disk, and the writer never sees a broken pipe.
mkfifo "$r/o" "$r/e"
{ head -c "$out_cap" > "$r/stdout"; exec cat > /dev/null; } < "$r/o" &
po=$!
{ head -c "$out_cap" > "$r/stderr"; exec cat > /dev/null; } < "$r/e" &
pe=$!

read -r up _ < "$PROC/uptime"
started=${up%.*}${up#*.}
sh ./cyber-dojo.sh > "$r/o" 2> "$r/e" < /dev/null &
child=$!
{ sleep "$max_seconds"; : > "$r/timed_out"; kill -9 "$child"; } 2>/dev/null &
wait "$child" 2>/dev/null
status=$?
read -r up _ < "$PROC/uptime"
ended=${up%.*}${up#*.}

# SIGKILLs every process but init, this shell and the drainers (and their children),
# until a pass finds none: background jobs, the timer, anything that escaped its group.
kill_others() {
  while :; do
    killed=0
    for p in "$PROC"/[0-9]*; do
      p=${p#"$PROC"/}
      case $p in 1|$$|$po|$pe) continue ;; esac
      { read -r stat < "$PROC/$p/stat"; } 2>/dev/null || continue
      set -- ${stat##*) }
      case ${2-} in $po|$pe) continue ;; esac
      kill -9 "$p" 2>/dev/null && killed=1
    done
    [ "$killed" = 0 ] && return
  done
}
kill_others
wait "$po" "$pe"

# The report. header: a header now, and the file to send in the body (after the end header).
body=0
header() {  # kind, name, size, [file]
  printf '%s%s\0%s\n' "$1" "$2" "$3"
  [ -n "${4-}" ] || return 0
  body=$((body + 1))
  eval "body$body=\$4"
}
# A created or changed file: its first file_cap bytes.
file_header() {  # kind, ./name, size
  if [ "$3" -lt "$file_cap" ]; then
    header "$1" "${2#./}" "$3" "$2"
  else
    head -c "$file_cap" < "$2" > "$r/cut$body"
    header "$1" "${2#./}" "$file_cap" "$r/cut$body"
  fi
}

header S "$status" 0
header U "$(( (ended - started) * 10 ))" 0
[ -e "$r/timed_out" ] && header T 1 0
# How many processes the kernel killed for memory in this container (cgroup v1, else v2):
# with it, the worker need not ask the engine whether the container ran out of memory.
for f in "$CGROUP/memory/memory.oom_control" "$CGROUP/memory.events"; do
  [ -r "$f" ] || continue
  while read -r key value; do
    [ "$key" = oom_kill ] && header K "$value" 0
  done < "$f" 2>/dev/null
  break
done

# Created (C) or changed (M): a file whose md5 is not the one in the mirror tree.
changed() {  # ./name, md5
  [ -f "$r/before/$1" ] || { kind=C; return 0; }
  read -r old < "$r/before/$1"
  kind=M
  [ "$old" != "$2" ]
}
# After the run, odd files are hashed and reported one by one.
odd() {
  h=$(md5sum < "$1" 2>/dev/null) || return
  changed "$1" "$h" || return
  file_header "$kind" "$1" "$(wc -c < "$1")"
}
plain= dirs=
walk .
hash_plain "$r/after"

# Created and changed plain files, then their sizes and stdout's and stderr's, by one wc in
# the order of $r/report.
while IFS= read -r line; do
  f=${line#*  }
  changed "$f" "${line%%  *}" && printf '%s%s\n' "$kind" "$f"
done < "$r/after" > "$r/report"
names=$r/stdout$nl$r/stderr
while IFS= read -r line; do names=$names$nl${line#?}; done < "$r/report"
set -f; IFS=$nl
wc -c -- $names > "$r/sizes" 2>/dev/null
unset IFS; set +f
{
  read -r size _ && header O '' "$size" "$r/stdout"
  read -r size _ && header E '' "$size" "$r/stderr"
  while IFS= read -r line <&3 && read -r size _; do
    file_header "${line%"${line#?}"}" "${line#?}" "$size"
  done 3< "$r/report"
} < "$r/sizes"

# Deleted: files recorded before the run that are no longer regular files.
while IFS= read -r line; do
  f=${line#*  }
  [ -f "$f" ] && [ ! -L "$f" ] || header X "${f#./}" 0
done < "$r/listed"
if [ -e "$r/odd" ]; then  # odd names are not listed: the mirror tree is searched for them
  sandbox=$PWD
  cd "$r/before" && find . -type f -path '*[[:cntrl:]\\]*' -exec sh -c '
    for f; do
      [ -f "$0/$f" ] && [ ! -L "$0/$f" ] || printf "X%s\0%s\n" "${f#./}" 0
    done' "$sandbox" {} +
  cd "$sandbox"
fi

header . '' 0
[ "$body" -gt 0 ] || exit 0
files=
i=1
while [ "$i" -le "$body" ]; do files="$files \"\$body$i\""; i=$((i + 1)); done
eval "exec cat -- $files"
