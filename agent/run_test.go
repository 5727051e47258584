package main

// A run as the root agent does it, on this machine: needs root (the helper takes the avatar's
// uid); skipped otherwise. The uid is one no process of this machine has, so the kill of its
// processes reaches only the test's own; the writable places emptied are the test's own.

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testUID = 49990

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "helper" { // the helper, forked by a test's run
		os.Exit(helper())
	}
	os.Exit(m.Run())
}

type parsed struct {
	headers map[byte][]string
	bodies  map[string]string
}

// parse reads a report into its headers by kind and the contents by kind and name.
func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	p := parsed{map[byte][]string{}, map[string]string{}}
	in := bufio.NewReader(strings.NewReader(string(data)))
	type header struct {
		key  string
		size int
	}
	var order []header
	for {
		line, err := in.ReadString(0)
		must(t, err)
		sizeText, err := in.ReadString('\n')
		must(t, err)
		kind, name := line[0], line[1:len(line)-1]
		if kind == '.' {
			break
		}
		p.headers[kind] = append(p.headers[kind], name)
		var size int
		for _, c := range strings.TrimSpace(sizeText) {
			size = size*10 + int(c-'0')
		}
		order = append(order, header{string(kind) + name, size})
	}
	for _, h := range order {
		body := make([]byte, h.size)
		n := 0
		for n < h.size {
			got, err := in.Read(body[n:])
			must(t, err)
			n += got
		}
		p.bodies[h.key] = string(body)
	}
	return p
}

// sandbox is a folder of the test's avatar, and a writable place of its own.
func sandbox(t *testing.T) (string, string) {
	if os.Getuid() != 0 {
		t.Skip("a run needs root: its helper takes the avatar's uid")
	}
	root, err := os.MkdirTemp("", "agent-run")
	must(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	must(t, os.Chmod(root, 0o755))
	box, scratch := filepath.Join(root, "lion"), filepath.Join(root, "tmp")
	for _, dir := range []string{box, scratch} {
		must(t, os.Mkdir(dir, 0o700))
		must(t, os.Chown(dir, testUID, testUID))
	}
	return box, scratch
}

func request(box, scratch, script string) *Request {
	return &Request{
		Op: "run", UID: testUID, GID: testUID, Sandbox: box,
		Env:        map[string]string{"HOME": box},
		Argv:       []string{"sh", "-c", script},
		MaxSeconds: 5, OutCap: 1001, FileCap: 1001, MaxFiles: 100,
		Scratch: []string{scratch}, Proc: "/proc", Cgroup: "/nonexistent",
	}
}

func TestARunReportsWhatTheAgentSawAndTheFilesWhatTheHelperFound(t *testing.T) {
	box, scratch := sandbox(t)
	script := "id -u; echo err >&2; cat in.txt > out.txt; touch " + scratch + "/left; exit 3"
	req := request(box, scratch, script)
	req.Files = []File{{Name: "in.txt", Data: []byte("in")}}
	root, files, noSandbox := runOnce(req)
	run, found := parse(t, root), parse(t, files)
	if noSandbox || run.headers['S'][0] != "3" || run.bodies["O"] != "49990\n" || run.bodies["E"] != "err\n" {
		t.Fatalf("got %+v", run)
	}
	if _, timedOut := run.headers['T']; timedOut {
		t.Fatal("timed out")
	}
	if found.bodies["Cout.txt"] != "in" || len(found.headers['C']) != 1 {
		t.Fatalf("files %+v", found)
	}
	info, err := os.Stat(filepath.Join(box, "in.txt"))
	must(t, err)
	if owner := info.Sys().(*syscall.Stat_t).Uid; owner != testUID {
		t.Fatalf("the request's file is owned by %d", owner)
	}
	if entries, _ := os.ReadDir(scratch); len(entries) != 0 {
		t.Fatalf("the writable place was not emptied: %v", entries)
	}
}

func TestARunPastItsTimeIsKilledAndTimedOut(t *testing.T) {
	box, scratch := sandbox(t)
	req := request(box, scratch, "echo started; sleep 30")
	req.MaxSeconds = 0.3
	started := time.Now()
	root, _, _ := runOnce(req)
	run := parse(t, root)
	if time.Since(started) > 5*time.Second {
		t.Fatal("the run was not killed")
	}
	if run.headers['T'] == nil || run.headers['S'][0] != "137" || run.bodies["O"] != "started\n" {
		t.Fatalf("got %+v", run)
	}
}

func TestOutputIsKeptUpToItsCapAndTheRestDrained(t *testing.T) {
	box, scratch := sandbox(t)
	req := request(box, scratch, "head -c 3000000 /dev/zero | tr '\\0' a; echo done >&2")
	root, _, _ := runOnce(req)
	run := parse(t, root)
	if run.bodies["O"] != strings.Repeat("a", 1001) || run.bodies["E"] != "done\n" {
		t.Fatalf("got %d bytes, %q", len(run.bodies["O"]), run.bodies["E"])
	}
}

func TestEveryProcessTheRunLeftIsKilled(t *testing.T) {
	box, scratch := sandbox(t)
	req := request(box, scratch, "sleep 300 & setsid sleep 300 & echo started")
	started := time.Now()
	root, _, _ := runOnce(req)
	if run := parse(t, root); run.bodies["O"] != "started\n" || run.headers['S'][0] != "0" {
		t.Fatalf("got %+v", run)
	}
	if time.Since(started) > 5*time.Second {
		t.Fatal("the run waited for its background processes")
	}
	if left := processesOf("/proc", testUID, -1); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

func TestNoSandboxIsSaidAndNothingRuns(t *testing.T) {
	box, scratch := sandbox(t)
	root, files, noSandbox := runOnce(request(box+"-gone", scratch, "touch /tmp/ran"))
	run := parse(t, root)
	if !noSandbox || run.headers['N'][0] != "avatar" || run.headers['S'] != nil || files != nil {
		t.Fatalf("got %+v", run)
	}
}
