# The run script. It runs inside the run container, as the avatar's uid, with a POSIX sh,
# after the preamble sandbox/scripts.py puts before it: the exit codes (EXIT_...), the run's
# bookkeeping folder ($WORK, in a tmpfs of its own: the learner's /tmp filling up does not fill
# it), where the processes ($PROC) and the memory cgroup ($CGROUP) are read, and the places
# outside the sandbox a run can write ($SCRATCH), emptied after the run.
# Arguments: max_seconds, the output cap (bytes kept + 1), the file cap (bytes kept + 1), the
# most files of the sandbox it compares before and after the run, what stdin holds, then the
# filenames to delete:
#   none    nothing;
#   files   a tar of the changed files;
#   staged  a tar of `deleted/<n>/<filename>` (an empty file in a folder of its own for each
#           filename to delete, when there are more than arguments can hold) and
#           `files/<filename>...`.
# Both are unpacked into the bookkeeping, then copied into the sandbox.
# stdout: the report (sandbox/report.py): headers, each a kind letter, a name, NUL, a size and
#         a newline; an end header `.`; then the contents of the headers, in their order.
#         Every step of its own work that fails is named in a fault header (F) instead of
#         being silently missing from the report: the worker makes the run faulty.
# Everything here runs as the avatar's uid, so every file operation is bounded by the
# permissions of that uid: a planted symlink cannot lead it into another avatar's sandbox,
# /sandboxes/.runner or the read-only root filesystem.
# A process costs about a millisecond (more with coreutils than busybox), so the script starts
# few, and no more for more files: about twenty for a run that changes nothing, two more for
# any number of created or changed files; a request's files cost two (tar, cp), and two more
# (md5sums) when some could not be written. Functions (and their redirections), globs and tests
# start none. The walks of the sandbox stop at max_files files, so that no state of a sandbox
# makes its runs slow: the time of the script's own work is bounded whatever the learner does.
set -u
nl='
'

main() {  # max_seconds out_cap file_cap max_files request [filename...]
  max_seconds=$1 out_cap=$2 file_cap=$3 max_files=$4 request=$5 faults=''
  shift 5
  enter_sandbox
  apply_request "$@"
  record_before
  check_space 1
  run_cyber_dojo
  check_space 2
  leave_clean
  report
  rm -rf "$WORK" 2>/dev/null
}

# The bookkeeping folder, then the sandbox as the working folder.
enter_sandbox() {
  mkdir -m 700 "$WORK" "$WORK/before" || exit "$EXIT_NO_WORK_FOLDER"
  cd "$CYBER_DOJO_SANDBOX" 2>/dev/null || exit "$EXIT_NO_SANDBOX"
}

# The request: deletions first, then writes. The files are unpacked into the bookkeeping,
# then copied into the sandbox (write_staged).
apply_request() {  # [filename...]
  [ $# -eq 0 ] || rm -f -- "$@" 2>/dev/null
  unwritten=0 staged=$WORK/in/files
  case $request in
    files) mkdir -p "$staged" && tar -x -f - -C "$staged" || exit "$EXIT_BAD_REQUEST" ;;
    staged)
      mkdir "$WORK/in" && tar -x -f - -C "$WORK/in" || exit "$EXIT_BAD_REQUEST"
      [ ! -d "$WORK/in/deleted" ] || remove_staged
      ;;
  esac
  [ ! -d "$staged" ] || write_staged
}

# Removes the files named by the staged deleted/<n>/<filename>: globs find each name, so none
# is ever parsed; rm takes them in batches of about 64 KiB.
remove_staged() {
  gone=0 size=0
  for d in "$WORK/in/deleted"/*; do
    f=$d
    while [ -d "$f" ]; do
      for e in "$f"/* "$f"/.[!.]* "$f"/..?*; do [ -e "$e" ] && break; done
      f=$e
    done
    append gone "${f#"$d"/}"
    size=$((size + ${#f}))
    [ "$size" -lt 65536 ] || remove_gone
  done
  remove_gone
}

remove_gone() {  # removes the files of the list gone, then empties it
  [ "$gone" -gt 0 ] || return 0
  refs gone
  eval "rm -f -- $refs" 2>/dev/null
  gone=0 size=0
}

# Copies the staged files into the sandbox with one cp, which carries on past a file it cannot
# write (busybox's tar stops at the first one): in a read-only folder, where a folder is, or
# under a symlinked folder, which cp never writes through. What sits where a file goes and is
# neither a file nor a folder (a symlink, which cp would write through; a fifo, which it would
# wait on) is removed first, as tar does, and an empty folder too; a file whose place cannot be
# cleared so, or that lies under anything but a folder, is not copied. The names not written
# go into the list unwritten: those, and when cp fails, the ones whose copy is not the file.
write_staged() {
  into='' odd=0 links=0 empties=0 dropped=0 tops=0
  stage_walk "$staged" 1
  if [ "$links" -gt 0 ]; then
    refs links
    eval "rm -f -- $refs" 2>/dev/null
    n=1
    while [ "$n" -le "$links" ]; do
      eval "t=\$links_$n"
      if [ -L "$t" ] || [ -e "$t" ]; then
        append dropped "$staged/${t#./}"
        append unwritten "${t#./}"
      else
        listed "$t"
      fi
      n=$((n + 1))
    done
  fi
  [ "$empties" = 0 ] || { refs empties; eval "rmdir -- $refs" 2>/dev/null; }
  [ "$dropped" = 0 ] || { refs dropped; eval "rm -f -- $refs" || fault "dropping a staged file"; }
  for e in "$staged"/* "$staged"/.[!.]* "$staged"/..?*; do
    [ ! -e "$e" ] || append tops "$e"
  done
  [ "$tops" -gt 0 ] || return 0
  refs tops
  eval "cp -R -f -- $refs ." 2>/dev/null || find_unwritten
}

# The staged files under the folder, each by its place in the sandbox (./name): listed to be
# compared, or put aside when something not a file is there (links), or unwritten at once
# when its folder's place holds anything but a folder.
stage_walk() {  # staged folder, its place: 1 a folder, 0 nothing yet, - anything else
  for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    t=./${e#"$staged"/}
    if [ -d "$e" ]; then
      if [ "$2" != 1 ]; then
        stage_walk "$e" "$2"
      elif [ -L "$t" ]; then
        stage_walk "$e" -
      elif [ -d "$t" ]; then
        stage_walk "$e" 1
      elif [ -e "$t" ]; then
        stage_walk "$e" -
      else
        stage_walk "$e" 0
      fi
    elif [ -f "$e" ]; then
      case $2 in
        -) append unwritten "${t#./}" ;;
        0) listed "$t" ;;
        *)
          if [ -L "$t" ] || { [ -e "$t" ] && [ ! -f "$t" ] && [ ! -d "$t" ]; }; then
            append links "$t"
          else
            [ ! -d "$t" ] || append empties "$t"
            listed "$t"
          fi
          ;;
      esac
    fi
  done
}

listed() {  # ./name: a file to compare after cp, plain names by one md5sum
  case $1 in
    *[[:cntrl:]]* | *\\*) append odd "$1" ;;
    *) into=$into$nl$1 ;;
  esac
}

# The listed files cp did not write: those whose copy in the sandbox is missing or not the
# staged file, by one md5sum over the staged files and one over their places, each line of
# the second matched in order to the first (md5sum skips a file it cannot read); an odd name
# by md5sums of its own.
find_unwritten() {
  from=''
  set -f
  IFS=$nl
  for t in $into; do from=$from$nl$staged/${t#./}; done
  unset IFS
  set +f
  hash_lines "$from" > "$WORK/staged.md5" || fault "md5sum of the request"
  hash_lines "$into" > "$WORK/written.md5"
  {
    IFS= read -r want <&3 || want=
    IFS= read -r got <&4 || got=
    set -f
    IFS=$nl
    for t in $into; do
      w='' g=''
      if [ "${want#*  }" = "$staged/${t#./}" ]; then
        w=${want%%  *}
        IFS= read -r want <&3 || want=
      fi
      if [ "${got#*  }" = "$t" ]; then
        g=${got%%  *}
        IFS= read -r got <&4 || got=
      fi
      [ "$w" = "$g" ] || append unwritten "${t#./}"
    done
    unset IFS
    set +f
  } 3< "$WORK/staged.md5" 4< "$WORK/written.md5"
  n=1
  while [ "$n" -le "$odd" ]; do
    eval "t=\$odd_$n"
    w=$(md5sum < "$staged/${t#./}")
    g=$(md5sum < "$t" 2>/dev/null) || g=
    [ "$w" = "$g" ] || append unwritten "${t#./}"
    n=$((n + 1))
  done
}

hash_lines() {  # lines: "md5  name" for each, by one md5sum (none for no lines)
  [ -z "$1" ] || with_lines "$1" md5sum -- 2>/dev/null
}

# Before the run, the md5 of every file goes into the mirror tree $WORK/before: a file of the
# same name holding it. The plain ones are listed in $WORK/listed too, hashed by one md5sum.
# Past max_files files, the rest are not recorded: $over_before says so.
record_before() {
  plain='' plains=0 folders='' found=0 over=0
  walk . record_odd
  over_before=$over
  [ -z "$folders" ] || with_lines "$folders" mkdir -p -- || fault "mkdir of the mirror tree"
  if hash_plain > "$WORK/listed"; then
    n=0
    while IFS= read -r line; do
      n=$((n + 1))
      printf '%s\n' "${line%%  *}" > "$WORK/before/${line#*  }" || fault "a mirror file"
    done < "$WORK/listed"
    # Busybox's md5sum exits 0 when its output could not be written: it is counted instead.
    [ "$n" = "$plains" ] || fault "md5sum of the sandbox before the run"
  else
    fault "md5sum of the sandbox before the run"
  fi
}

record_odd() {  # ./name: its md5 into the mirror tree, by an md5sum of its own
  d=$WORK/before/${1%/*}
  [ -d "$d" ] || mkdir -p "$d"
  md5sum < "$1" > "$WORK/before/$1" 2>/dev/null || fault "md5sum of an odd name before the run"
  : > "$WORK/odd"
}

# Runs cyber-dojo.sh for at most max_seconds, its output drained as it streams: the first
# out_cap bytes kept, the rest read and dropped, so a flood costs neither memory nor disk, and
# the writer never sees a broken pipe. Sets $status and $duration_ms.
run_cyber_dojo() {
  mkfifo "$WORK/o" "$WORK/e" || fault "mkfifo"
  drain "$WORK/stdout" < "$WORK/o" &
  out_drainer=$!
  drain "$WORK/stderr" < "$WORK/e" &
  err_drainer=$!
  read_uptime
  started=$uptime
  sh ./cyber-dojo.sh > "$WORK/o" 2> "$WORK/e" < /dev/null &
  child=$!
  # The time ran out only when the timer's sleep ended by itself: one killed first (by the
  # learner, or by kill_others when its pid comes before its subshell's) or never started
  # (the pids limit) is no time-out. The container's own deadline still bounds such a run.
  { sleep "$max_seconds" && : > "$WORK/timed_out" && kill -9 "$child"; } 2>/dev/null &
  wait "$child" 2>/dev/null
  status=$?
  read_uptime
  duration_ms=$(((uptime - started) * 10))
  kill_others
  wait "$out_drainer" || fault "keeping stdout"
  wait "$err_drainer" || fault "keeping stderr"
}

# In the background: keeps the first out_cap bytes of stdin in the file, reads and drops the
# rest. When it could not keep them (no space left) it still drains, and exits NOT_KEPT.
drain() {  # file
  head -c "$out_cap" > "$1" || { cat > /dev/null; exit "$EXIT_NOT_KEPT"; }
  exec cat > /dev/null
}

read_uptime() {  # sets $uptime: the seconds since boot, in hundredths
  read -r uptime _ < "$PROC/uptime"
  uptime=${uptime%.*}${uptime#*.}
}

# SIGKILLs every process but init, this shell and the drainers (and their children),
# until a pass finds none: background jobs, the timer, anything that escaped its group.
kill_others() {
  while :; do
    killed=0
    for p in "$PROC"/[0-9]*; do
      p=${p#"$PROC"/}
      case $p in 1 | "$$" | "$out_drainer" | "$err_drainer") continue ;; esac
      { read -r stat < "$PROC/$p/stat"; } 2>/dev/null || continue
      # The fields after the command's name, which may hold spaces and parentheses: the
      # state, then the parent's pid. Split on purpose.
      # shellcheck disable=SC2086
      set -- ${stat##*) }
      case ${2-} in "$out_drainer" | "$err_drainer") continue ;; esac
      kill -9 "$p" 2>/dev/null && killed=1
    done
    [ "$killed" = 0 ] && return
  done
}

# In a kata's live container the next run may be another avatar's: nothing of this run may
# stay outside its sandbox. Empties the writable places (but the bookkeeping) and sets $clean
# to 1 when nothing is left there, no process of this uid but this shell lives, and no System
# V IPC object exists (they outlive processes in the container's IPC namespace).
leave_clean() {
  clean=1
  for place in $SCRATCH; do
    for f in "$place"/* "$place"/.[!.]* "$place"/..?*; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      [ "$f" != "$WORK" ] || continue
      chmod -R u+rwX "$f" 2>/dev/null
      rm -rf "$f" 2>/dev/null
      if [ -e "$f" ] || [ -L "$f" ]; then clean=0; fi
    done
  done
  uid_of "$PROC/self/status"
  me=$uid
  for p in "$PROC"/[0-9]*; do
    case ${p#"$PROC"/} in "$$") continue ;; esac
    uid_of "$p/status"
    [ "$uid" != "$me" ] || clean=0
  done
  for f in "$PROC/sysvipc/shm" "$PROC/sysvipc/msg" "$PROC/sysvipc/sem"; do
    [ -r "$f" ] || continue
    lines=0
    while IFS= read -r _; do lines=$((lines + 1)); done < "$f"
    [ "$lines" -le 1 ] || clean=0  # a heading, then one line an object
  done
}

uid_of() {  # a status file: sets $uid to its real uid, empty when it cannot be read
  uid=
  { while read -r key value _; do
      [ "$key" != Uid: ] || { uid=$value; return; }
    done < "$1"; } 2>/dev/null
}

# The report: how the run ended, the created and changed files, the deleted ones, then the
# contents of the headers.
report() {
  bodies=0
  header S "$status" 0
  header U "$duration_ms" 0
  [ ! -e "$WORK/timed_out" ] || header T 1 0
  [ "$clean" = 0 ] || header Z 1 0
  report_oom_kills
  plain='' plains=0 folders='' found=0 over=0
  walk . report_odd
  [ "$over_before$over" = 00 ] || header L "$max_files" 0
  report_output_and_plain
  report_deleted
  report_unwritten
  check_space 3
  [ -z "$faults" ] || header F "$faults" 0
  header . '' 0
  send_bodies
}

# Busybox's tools exit 0 when their output could not be written (no space left), so the
# bookkeeping's space is checked instead after each stretch of work that writes to it: a page
# written to a file of its own fails while the space is full. Only the learner's code, as the
# same uid, could fill it (the script's own files take far less) and empty it again.
check_space() {  # n
  echo > "$WORK/space$1" 2>/dev/null || fault "no space left for the run's bookkeeping"
}

# How many processes the kernel killed for memory in this container (cgroup v1, else v2):
# with it, the worker need not ask the engine whether the container ran out of memory.
report_oom_kills() {
  for f in "$CGROUP/memory/memory.oom_control" "$CGROUP/memory.events"; do
    [ -r "$f" ] || continue
    while read -r key value; do
      [ "$key" != oom_kill ] || header K "$value" 0
    done < "$f" 2>/dev/null
    break
  done
}

report_odd() {  # ./name: reported at once when created or changed, hashed by an md5sum of its own
  h=$(md5sum < "$1" 2>/dev/null) || return
  change_of "$1" "$h"
  [ -z "$change" ] || file_header "$change" "$1" "$(wc -c < "$1")"
}

# stdout and stderr, then the created and changed plain files, all sized by one wc in the
# order of $WORK/report.
report_output_and_plain() {
  if hash_plain > "$WORK/after"; then
    n=0
    while IFS= read -r line; do
      n=$((n + 1))
      f=${line#*  }
      change_of "$f" "${line%%  *}"
      [ -z "$change" ] || printf '%s%s\n' "$change" "$f" || fault "the list of changes"
    done < "$WORK/after" > "$WORK/report" || fault "the list of changes"
    [ "$n" = "$plains" ] || fault "md5sum of the sandbox after the run"
  else
    fault "md5sum of the sandbox after the run"
    : > "$WORK/report"
  fi
  names=$WORK/stdout$nl$WORK/stderr
  while IFS= read -r line; do names=$names$nl${line#?}; done < "$WORK/report"
  with_lines "$names" wc -c -- > "$WORK/sizes" 2>/dev/null || {
    fault "wc of the output and files"
    return
  }
  {
    read -r size _ && header O '' "$size" "=$WORK/stdout"
    read -r size _ && header E '' "$size" "=$WORK/stderr"
    while IFS= read -r line <&3 && read -r size _; do
      file_header "${line%"${line#?}"}" "${line#?}" "$size"
    done 3< "$WORK/report"
  } < "$WORK/sizes"
}

# Deleted: files recorded before the run that are no longer regular files.
report_deleted() {
  while IFS= read -r line; do
    f=${line#*  }
    if [ ! -f "$f" ] || [ -L "$f" ]; then header X "${f#./}" 0; fi
  done < "$WORK/listed"
  [ -e "$WORK/odd" ] || return 0
  # Odd names are not listed: the mirror tree is searched for them.
  # shellcheck disable=SC2016  # the inner script's variables are its own
  find "$WORK/before" -type f -path '*[[:cntrl:]\\]*' -exec sh -c '
    before=$1
    shift
    for f; do
      f=.${f#"$before"}
      [ -f "$f" ] && [ ! -L "$f" ] || printf "X%s\0%s\n" "${f#./}" 0
    done' sh "$WORK/before" {} +
}

report_unwritten() {  # the files of the request not written
  n=1
  while [ "$n" -le "$unwritten" ]; do
    name=
    eval "name=\$unwritten_$n"
    header W "$name" 0
    n=$((n + 1))
  done
}

# A step of the script's own work failed: named in the fault header, once per reason.
fault() {  # reason
  case "; $faults; " in *"; $1; "*) return ;; esac
  faults=${faults:+$faults; }$1
}

# A header now; its content follows the end header: a whole file (=file) or its first
# file_cap bytes (<file).
header() {  # kind, name, size, [=file or <file]
  printf '%s%s\0%s\n' "$1" "$2" "$3"
  [ -z "${4-}" ] || append bodies "$4"
}

# A created or changed file: its first file_cap bytes.
file_header() {  # kind, ./name, size
  if [ "$3" -lt "$file_cap" ]; then
    header "$1" "${2#./}" "$3" "=$2"
  else
    header "$1" "${2#./}" "$file_cap" "<$2"
  fi
}

# The contents of the headers, in their order, straight from the files (nothing is copied
# into the bookkeeping): one cat for each stretch of whole files, a head for each cut one.
send_bodies() {
  n=1 whole=0
  while [ "$n" -le "$bodies" ]; do
    body=
    eval "body=\$bodies_$n"
    case $body in
      '<'*) send_whole && head -c "$file_cap" < "${body#?}" ;;
      *) append whole "${body#?}" ;;
    esac
    n=$((n + 1))
  done
  send_whole  # not exec: the bookkeeping goes after the report
}

send_whole() {  # sends the whole files listed so far, then empties the list
  [ "$whole" -gt 0 ] || return 0
  refs whole
  eval "cat -- $refs"
  whole=0
}

# Every readable regular file under the folder (not through a symlink; no fifo or device) as
# folder/name: plain names go, a line each, into $plain (counted in $plains), and their
# folders into $folders;
# an odd name (a control character or a backslash, which md5sum would split or escape) goes
# to the handler at once. It counts the files in $found and stops at max_files of them,
# setting $over when there are more.
walk() {  # folder, handler of an odd name
  for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    if [ -L "$f" ]; then
      :
    elif [ -f "$f" ] && [ -r "$f" ]; then
      [ "$found" -lt "$max_files" ] || { over=1; return; }
      found=$((found + 1))
      case $f in
        *[[:cntrl:]]* | *\\*) "$2" "$f" ;;
        *) plain=$plain$nl$f plains=$((plains + 1)) ;;
      esac
    elif [ -d "$f" ]; then
      case $f in *[[:cntrl:]]* | *\\*) ;; *) folders=$folders$nl$WORK/before/$f ;; esac
      walk "$f" "$2"
      [ "$over" = 0 ] || return
    fi
  done
}

# Created (C) or changed (M): a file whose md5 is not the one in the mirror tree. A file not
# there is not known to be created when the walk before the run stopped short of it.
change_of() {  # ./name, md5: sets $change to C, M or nothing
  if [ ! -f "$WORK/before/$1" ]; then
    if [ "$over_before" = 0 ]; then change=C; else change=; fi
  else
    read -r old < "$WORK/before/$1"
    if [ "$old" = "$2" ]; then change=; else change=M; fi
  fi
}

hash_plain() {  # prints "md5  ./name" for every plain file, by one md5sum over all of them
  [ -z "$plain" ] || with_lines "$plain" md5sum -- 2>/dev/null
}

with_lines() {  # lines, command...: runs the command with each line as one more argument
  lines=$1
  shift
  set -f
  IFS=$nl
  # shellcheck disable=SC2086  # split at newlines only, on purpose
  set -- "$@" $lines
  unset IFS
  set +f
  "$@"
}

# POSIX sh has no arrays, and a name may hold any byte but NUL: a list is a count ($list) and
# the items $list_1 ... $list_<count>, which eval sees only as quoted references, never as text.
append() {  # list, item
  eval "$1=\$(($1 + 1))"
  eval "${1}_$(($1))=\$2"
}

refs() {  # list: sets $refs to "$list_1" "$list_2" ..., to eval
  i=1 refs=
  while [ "$i" -le "$(($1))" ]; do
    refs="$refs \"\$${1}_$i\""
    i=$((i + 1))
  done
}

main "$@"
