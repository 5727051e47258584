# The watcher: the own process of a kata's live container, root, under the engine's init. It
# runs after the preamble sandbox/scripts.py puts before it: where it reads the processes
# ($PROC) and the cgroups ($CGROUP), and the places outside the sandboxes a run can write
# ($SCRATCH).
# It waits on its stdin, which only the worker reaches (the engine's attach stream: a run's
# processes, as an avatar's uid, can neither write to it, signal this shell nor ptrace it),
# and answers each line `verdict NONCE` on its stdout, read by the worker through the same
# attach stream, with one line:
#   NONCE clean OOM_KILLS
#   NONCE dirty OOM_KILLS REASON...
# clean: no process lives in the container but init and this shell, every place of $SCRATCH
# is empty, no System V IPC object exists and nothing was ever killed for memory. It decides
# from what it sees itself, never from a run's report, and only the worker acts on it: a
# container that is not clean is removed. It starts no process to look (a glob, a read and a
# test are the shell's own), so that the look costs little and the pids limit cannot stop it.
set -u

main() {
  trap 'exit 0' TERM
  while IFS= read -r line; do
    case $line in
      "verdict "*) verdict "${line#verdict }" ;;
    esac
  done
}

# A run's last processes may still be ending (an exec's main process is reaped by the engine,
# a killed one by init) when the worker asks: a dirty look is looked at again, a few times,
# before it is the answer.
verdict() {  # nonce
  tries=0
  while :; do
    look
    [ -n "$reasons" ] || break
    tries=$((tries + 1))
    [ "$tries" -lt 20 ] || break
    sleep 0.01 2>/dev/null
  done
  if [ -z "$reasons" ]; then
    printf '%s clean %s\n' "$1" "$oom_kills"
  else
    printf '%s dirty %s%s\n' "$1" "$oom_kills" "$reasons"
  fi
}

look() {  # sets $reasons (empty: clean) and $oom_kills
  reasons=''
  look_at_processes
  for place in $SCRATCH; do
    for f in "$place"/* "$place"/.[!.]* "$place"/..?*; do
      if [ -e "$f" ] || [ -L "$f" ]; then
        reasons="$reasons $place:not-empty"
        break
      fi
    done
  done
  for f in "$PROC/sysvipc/shm" "$PROC/sysvipc/msg" "$PROC/sysvipc/sem"; do
    lines=0
    { while IFS= read -r _; do lines=$((lines + 1)); done < "$f"; } 2>/dev/null ||
      { reasons="$reasons ${f##*/}:unreadable"; continue; }
    [ "$lines" -le 1 ] || reasons="$reasons ipc:${f##*/}"  # a heading, then a line an object
  done
  oom_kills=''
  for f in "$CGROUP/memory/memory.oom_control" "$CGROUP/memory.events"; do
    { while read -r key value; do
        [ "$key" != oom_kill ] || oom_kills=$value
      done < "$f"; } 2>/dev/null && break
  done
  case $oom_kills in
    '' | *[!0-9]*) oom_kills=0 reasons="$reasons oom:unreadable" ;;
    0) ;;
    *) reasons="$reasons oom:$oom_kills" ;;
  esac
}

# The pids cgroup counts every task of the container at once, so no process can hide from it
# (a walk of /proc could miss one that forks behind the walk and dies ahead of it); init and
# this shell are all it may hold. The walk only names what else lives, for the log.
look_at_processes() {
  mine=2
  [ "$$" != 1 ] || mine=1
  tasks=''
  for f in "$CGROUP/pids/pids.current" "$CGROUP/pids.current"; do
    { read -r tasks < "$f"; } 2>/dev/null && break
  done
  case $tasks in
    '' | *[!0-9]*) reasons="$reasons pids:unreadable" ;;
    "$mine") return ;;
    *) reasons="$reasons tasks:$tasks" ;;
  esac
  for p in "$PROC"/[0-9]*; do
    case ${p#"$PROC"/} in 1 | "$$") continue ;; esac
    uid=''
    { while read -r key value _; do
        [ "$key" != Uid: ] || { uid=$value; break; }
      done < "$p/status"; } 2>/dev/null
    [ -z "$uid" ] || reasons="$reasons pid${p#"$PROC"/}:uid$uid"
  done
}

main
