package main

// The agent's two wires: the requests the worker sends on stdin, and the report it answers
// with (the format sandbox/report.py parses): headers, each a kind letter, a name, NUL, a
// size and a newline; the end header "."; then the contents of the headers, in their order.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxRequestBytes bounds one request: the worker's own limits keep a run's files far below.
const maxRequestBytes = 256 << 20

// Request is one thing the worker asks: a run, or a look at the container ("verdict").
type Request struct {
	Op         string            `json:"op"`
	Nonce      string            `json:"nonce"`
	UID        int               `json:"uid"`
	GID        int               `json:"gid"`
	Sandbox    string            `json:"sandbox"`
	Env        map[string]string `json:"env"`
	Argv       []string          `json:"argv"`
	MaxSeconds float64           `json:"max_seconds"`
	OutCap     int               `json:"out_cap"`  // bytes of stdout (and of stderr) kept, + 1
	FileCap    int               `json:"file_cap"` // bytes of a created or changed file sent, + 1
	MaxFiles   int               `json:"max_files"`
	Deleted    []string          `json:"deleted"`
	Files      []File            `json:"files"`
	Scratch    []string          `json:"scratch"` // the writable places outside the sandboxes
	Proc       string            `json:"proc"`
	Cgroup     string            `json:"cgroup"`
	RunAt      string            `json:"run_at"` // written to .runner/run_at before the run
	// The command run when Argv's is not on the run's PATH (sh when an image has no bash).
	Fallback []string `json:"fallback"`
	// Files written (as the avatar) outside the sandbox before the run, by absolute path:
	// cyber-dojo's fs cleaners in the home.
	HomeFiles []File `json:"home_files"`
	// Created and changed files that are binary are neither reported nor kept, as
	// cyber-dojo's runner does.
	DropBinary bool `json:"drop_binary"`
}

// File is one file of a request: its name in the sandbox and its bytes.
type File struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// readRequest reads one request, "<size>\n<json>"; io.EOF when the worker closed the stream.
func readRequest(in *bufio.Reader) (*Request, error) {
	line, err := in.ReadString('\n')
	if err != nil {
		if err == io.EOF && line == "" {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("a request's size: %w", err)
	}
	size, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || size < 0 || size > maxRequestBytes {
		return nil, fmt.Errorf("a request's size: %q", line)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(in, body); err != nil {
		return nil, fmt.Errorf("a request of %d bytes: %w", size, err)
	}
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("a request: %w", err)
	}
	return &r, nil
}

// Report is a report being written: its headers, and the contents that follow the end header.
type Report struct {
	headers bytes.Buffer
	bodies  bytes.Buffer
	faults  []string
}

// Header adds a header whose content is body (nothing for a bare header).
func (r *Report) Header(kind byte, name string, body []byte) {
	r.headers.WriteByte(kind)
	r.headers.WriteString(name)
	r.headers.WriteByte(0)
	r.headers.WriteString(strconv.Itoa(len(body)))
	r.headers.WriteByte('\n')
	r.bodies.Write(body)
}

// Number adds a header whose name is a number.
func (r *Report) Number(kind byte, n int) { r.Header(kind, strconv.Itoa(n), nil) }

// Fault names a step of the agent's own work that failed, once per reason.
func (r *Report) Fault(reason string) {
	for _, f := range r.faults {
		if f == reason {
			return
		}
	}
	r.faults = append(r.faults, reason)
}

// Bytes is the whole report: the faults in one header, the end header, then the contents.
func (r *Report) Bytes() []byte {
	if len(r.faults) > 0 {
		r.Header('F', strings.Join(r.faults, "; "), nil)
		r.faults = nil
	}
	var out bytes.Buffer
	out.Write(r.headers.Bytes())
	out.WriteString(".\x000\n")
	out.Write(r.bodies.Bytes())
	return out.Bytes()
}

// answer frames the agent's answer to the worker: "<nonce> <size of root's report> <size of
// the files' report>\n", then both. The first is the agent's own (root's); the second is the
// uid helper's, which the learner can shape, so the worker takes only files from it.
func answer(w io.Writer, nonce string, root []byte, files []byte) error {
	if _, err := fmt.Fprintf(w, "%s %d %d\n", nonce, len(root), len(files)); err != nil {
		return err
	}
	if _, err := w.Write(root); err != nil {
		return err
	}
	_, err := w.Write(files)
	return err
}
