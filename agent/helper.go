package main

// The helper: a run's file work and its kill, done with the avatar's uid and gid by a process
// the root agent forks before the run (so a fork bomb at the pids limit cannot stop it), in
// three steps on its stdin and stdout:
//   the request          -> "ready\n" once the deletions, writes and snapshot are done, or
//                           "nosandbox\n" when the avatar's sandbox does not exist;
//   "kill\n"             -> SIGKILLs every process of the uid but itself, empties the writable
//                           places outside the sandboxes, then writes the files' report
//                           (created, changed, deleted, unwritten) and exits.
// Its effective uid and gid are the avatar's, so every file it touches is bounded by what the
// avatar may touch; its real and saved uid stay root's, so that no process of the avatar's uid
// may signal it or ptrace it (the kernel lets a process signal another only when a uid of the
// sender is the real or saved uid of the target). What it reports is data the learner could
// shape anyway (the files); the root agent decides everything else.

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
	"time"
)

const prSetDumpable = 4

func helper() int {
	in := bufio.NewReader(os.Stdin)
	out := os.Stdout
	req, err := readRequest(in)
	if err != nil {
		return exitBadRequest
	}
	if err := becomeAvatar(req.UID, req.GID); err != nil {
		fmt.Fprintln(os.Stderr, "agent helper:", err)
		return 1
	}
	rep := &Report{}
	if os.Chdir(req.Sandbox) != nil {
		_, _ = out.WriteString("nosandbox\n")
		return exitNoSandbox
	}
	for _, name := range req.Deleted {
		deleteFile(name)
	}
	for _, f := range req.Files {
		if !writeFile(f.Name, f.Data) {
			rep.Header('W', f.Name, nil)
		}
	}
	for _, f := range req.HomeFiles {
		if !writeOutside(f.Name, f.Data) {
			rep.Header('W', f.Name, nil)
		}
	}
	req.Files, req.HomeFiles = nil, nil
	before := snapshot(req.MaxFiles)
	if _, err := out.WriteString("ready\n"); err != nil {
		return 1
	}
	_, _ = in.ReadString('\n') // "kill", or the agent's end
	if !killUid(req.Proc, req.UID) {
		rep.Fault("killing the run's processes")
	}
	for _, place := range req.Scratch {
		emptyPlace(place)
	}
	after := snapshot(req.MaxFiles)
	reportFiles(rep, before, after, req.MaxFiles, req.FileCap, req.DropBinary)
	_, _ = out.Write(rep.Bytes())
	return 0
}

// becomeAvatar takes the avatar's gid (and no other group) and its uid as the effective one,
// keeping root as the real and saved uid.
func becomeAvatar(uid, gid int) error {
	if err := syscall.Setgroups([]int{}); err != nil {
		return err
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return err
	}
	if err := syscall.Setresuid(0, uid, 0); err != nil {
		return err
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
	return nil
}

// killUid SIGKILLs every process whose real uid is the avatar's until /proc lists none; false
// when some still live after 2 s. Each pass kills every process it finds, and a process with
// SIGKILL pending forks no more, so only children born during a pass survive it, fewer each
// time: a fork bomb at the pids limit ends in a few passes.
func killUid(proc string, uid int) bool {
	give_up := time.Now().Add(2 * time.Second)
	for {
		found := processesOf(proc, uid, os.Getpid())
		if len(found) == 0 {
			return true
		}
		for _, pid := range found {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(give_up) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}
