package main

// The steps on a kata's volume, each in a short container of the helper image that mounts
// the volume at /sandboxes. Steps marked (root) run as root; the others as the avatar's uid.
// Nothing here runs as root over a path a learner's code could have touched: root only makes
// /sandboxes/.runner and an avatar's folder itself (in root-owned /sandboxes), and removes
// that folder once the avatar's uid has emptied it.

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

const sandboxes = "/sandboxes"

var runnerFolder = sandboxes + "/.runner"

func admin(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "agent admin: no step")
		return exitNoStep
	}
	step, args := args[0], args[1:]
	need := map[string]int{"kata": 1, "avatar": 4, "fill": 1, "empty": 1, "remove": 1}
	if n, ok := need[step]; !ok || len(args) != n {
		fmt.Fprintf(os.Stderr, "agent admin: no step %q with %d arguments\n", step, len(args))
		return exitNoStep
	}
	switch step {
	case "kata": // (root) NOW: the layout of a kata's volume and its hello time
		return fail(layOut(args[0]))
	case "avatar": // (root) AVATAR UID GID NOW: the avatar's folder, owned by its uid
		return avatar(args[0], args[1], args[2], args[3])
	case "fill": // AVATAR: the sandbox emptied, then set to the files of the request on stdin
		return fill(args[0])
	case "empty": // AVATAR: the sandbox emptied
		if code := enter(args[0]); code != 0 {
			return code
		}
		return emptied()
	default: // "remove" (root) AVATAR: the emptied sandbox folder removed
		err := os.Remove(filepath.Join(sandboxes, args[0]))
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		return fail(err)
	}
}

func layOut(now string) error {
	if err := os.MkdirAll(runnerFolder, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(sandboxes, "lost+found")) // a kata's disk is a new ext2
	for _, dir := range []string{sandboxes, runnerFolder} {
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
	}
	return helloAt(now)
}

func avatar(name, uidText, gidText, now string) int {
	if _, err := os.Stat(runnerFolder); err != nil {
		return exitNoLayout
	}
	uid, err1 := strconv.Atoi(uidText)
	gid, err2 := strconv.Atoi(gidText)
	if err1 != nil || err2 != nil {
		return exitNoStep
	}
	folder := filepath.Join(sandboxes, name)
	if err := os.Mkdir(folder, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fail(err)
	}
	info, err := os.Lstat(folder)
	if err != nil || !info.IsDir() {
		return fail(fmt.Errorf("%s is not a folder", folder))
	}
	if owner := info.Sys().(*syscall.Stat_t).Uid; int(owner) != uid {
		// Another uid's folder (of a kata made again): closed before it changes hands.
		if err := os.Chmod(folder, 0o700); err != nil {
			return fail(err)
		}
	}
	if err := os.Lchown(folder, uid, gid); err != nil {
		return fail(err)
	}
	return fail(helloAt(now))
}

func helloAt(now string) error {
	return os.WriteFile(filepath.Join(runnerFolder, "hello_at"), []byte(now+"\n"), 0o644)
}

func fill(name string) int {
	req, err := readRequest(bufio.NewReader(os.Stdin))
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent admin fill:", err)
		return exitBadRequest
	}
	if code := enter(name); code != 0 {
		return code
	}
	if code := emptied(); code != 0 {
		return code
	}
	for _, f := range req.Files {
		if !writeFile(f.Name, f.Data) {
			fmt.Fprintf(os.Stderr, "agent admin fill: %q could not be written\n", f.Name)
			return exitNotFilled
		}
	}
	return 0
}

// enter makes the avatar's sandbox the working folder.
func enter(name string) int {
	if err := os.Chdir(filepath.Join(sandboxes, name)); err != nil {
		return exitNoSandbox
	}
	return 0
}

// emptied empties the working folder of everything, whatever its modes.
func emptied() int {
	_ = os.Chmod(".", 0o700)
	entries, err := os.ReadDir(".")
	if err != nil {
		return exitNotEmptied
	}
	for _, e := range entries {
		if !removeAll(e.Name()) {
			fmt.Fprintf(os.Stderr, "agent admin: %q could not be removed\n", e.Name())
			return exitNotEmptied
		}
	}
	return 0
}

func fail(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "agent admin:", err)
	return 1
}

// install copies this binary to DIR/agent through a temporary name, so that a container that
// starts meanwhile finds the whole binary or none.
func install(args []string) int {
	if len(args) != 1 {
		return exitNoStep
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return fail(err)
	}
	part := filepath.Join(args[0], fmt.Sprintf(".agent.%d", os.Getpid()))
	if err := os.WriteFile(part, data, 0o755); err != nil {
		return fail(err)
	}
	if err := os.Chmod(part, 0o755); err != nil {
		return fail(err)
	}
	return fail(os.Rename(part, filepath.Join(args[0], "agent")))
}
