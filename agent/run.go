package main

// A run, as the root agent does it: the helper forked as the avatar's uid first, then the
// learner's command forked as that uid in a session of its own, its output drained and capped
// as it streams, its time limit, its end, the helper's kill, and the agent's own look.
// Everything in the root report is what the agent itself observed.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// How long the helper's own work (writes, snapshots, emptying) may take, each step.
	helperStepTimeout = 30 * time.Second
	// How long the output may stay open after the run's end and the helper's kill.
	drainGrace = 2 * time.Second
	// How long past its time limit a run that cannot be killed is waited for.
	killGrace = 2 * time.Second
	// The most of the helper's report read: the worker's own bound is far below.
	maxFilesReport = 48 << 20
)

// runOnce does one run; the root report and the helper's files report. noSandbox says the
// avatar's sandbox does not exist.
func runOnce(req *Request) (root []byte, files []byte, noSandbox bool) {
	rep := &Report{}
	if req.RunAt != "" {
		if err := writeRunAt(req); errors.Is(err, fs.ErrNotExist) {
			rep.Header('N', "kata", nil)
			return finish(rep, req), nil, true
		} else if err != nil {
			rep.Fault("recording the run's time: " + err.Error())
		}
	}
	h, err := startHelper(req)
	if err != nil {
		rep.Fault("starting the helper: " + err.Error())
		return finish(rep, req), nil, false
	}
	defer h.close()
	switch line := h.line(); line {
	case "ready":
	case "nosandbox":
		h.close()
		rep.Header('N', "avatar", nil)
		return finish(rep, req), nil, true
	default:
		h.close()
		rep.Fault("the helper did not get ready")
		return finish(rep, req), nil, false
	}
	run, err := startRun(req)
	if err != nil {
		rep.Fault("starting the run: " + err.Error())
		h.kill()
		files = h.report()
		h.close()
		return finish(rep, req), files, false
	}
	limit := time.Duration(req.MaxSeconds * float64(time.Second))
	var timedOut atomic.Bool
	timer := time.AfterFunc(limit, func() {
		timedOut.Store(true)
		h.kill()
	})
	state, ended := run.wait(limit + killGrace)
	timer.Stop()
	duration := time.Since(run.started)
	h.kill()
	stdout, stderr, drained := run.output(drainGrace)
	if ended {
		rep.Number('S', exitStatus(state))
	} else {
		rep.Fault("the run could not be killed")
	}
	rep.Number('U', int(duration.Milliseconds()))
	if timedOut.Load() {
		rep.Header('T', "1", nil)
	}
	if !drained {
		rep.Fault("the run's output stayed open")
	}
	rep.Header('O', "", stdout)
	rep.Header('E', "", stderr)
	files = h.report()
	h.close() // reaped before the look, which counts the container's tasks
	return finish(rep, req), files, false
}

// writeRunAt records the run's time in the kata's root-owned .runner folder, which the
// reaper reads; fs.ErrNotExist when the folder is not there (the kata was never laid out).
func writeRunAt(req *Request) error {
	path := filepath.Join(filepath.Dir(req.Sandbox), ".runner", "run_at")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(req.RunAt + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// finish adds the OOM count and the agent's look to the report: Z when the container is
// clean, a D header for each reason when it is not.
func finish(rep *Report, req *Request) []byte {
	seen := look(req.Proc, req.Cgroup, req.Scratch)
	rep.Number('K', seen.OOMKills)
	if len(seen.Reasons) == 0 {
		rep.Header('Z', "1", nil)
	}
	for _, reason := range seen.Reasons {
		rep.Header('D', reason, nil)
	}
	return rep.Bytes()
}

// exitStatus is the status a shell would give: the exit code, or 128 + the signal.
func exitStatus(state *os.ProcessState) int {
	ws := state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// helperProcess is the uid helper of one run.
type helperProcess struct {
	proc   *os.Process
	in     *os.File
	out    *bufio.Reader
	outF   *os.File
	killed sync.Once
	closed sync.Once
}

func startHelper(req *Request) (*helperProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	devnull, _ := os.Open(os.DevNull)
	// Root: it takes the avatar's uid as its effective one itself (helper.go says why).
	proc, err := os.StartProcess(self, []string{"agent", "helper"}, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{},
		Files: []*os.File{inR, outW, devnull},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	inR.Close()
	outW.Close()
	if devnull != nil {
		devnull.Close()
	}
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	h := &helperProcess{proc: proc, in: inW, out: bufio.NewReader(outR), outF: outR}
	body, _ := json.Marshal(req)
	go func() {
		_, _ = h.in.WriteString(strconv.Itoa(len(body)) + "\n")
		_, _ = h.in.Write(body)
	}()
	return h, nil
}

func credential(req *Request) *syscall.Credential {
	return &syscall.Credential{Uid: uint32(req.UID), Gid: uint32(req.GID), Groups: []uint32{}}
}

// line reads one line of the helper's, within its step's time.
func (h *helperProcess) line() string {
	got := make(chan string, 1)
	go func() {
		s, _ := h.out.ReadString('\n')
		got <- strings.TrimSpace(s)
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(helperStepTimeout):
		return ""
	}
}

// kill tells the helper to kill the run's processes (once).
func (h *helperProcess) kill() {
	h.killed.Do(func() { _, _ = h.in.WriteString("kill\n") })
}

// report is the helper's files report, read to its end within its step's time.
func (h *helperProcess) report() []byte {
	got := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(io.LimitReader(h.out, maxFilesReport))
		got <- data
	}()
	select {
	case data := <-got:
		return data
	case <-time.After(helperStepTimeout):
		return nil
	}
}

// close ends the helper's streams and reaps it, waiting a little: it ends by itself once it
// has reported, or when its stdin ends.
func (h *helperProcess) close() {
	h.closed.Do(func() {
		h.kill()
		h.in.Close()
		waited := make(chan struct{})
		go func() {
			_, _ = h.proc.Wait()
			close(waited)
		}()
		select {
		case <-waited:
		case <-time.After(helperStepTimeout):
		}
		h.outF.Close()
	})
}

// runProcess is the learner's command, running.
type runProcess struct {
	proc    *os.Process
	started time.Time
	stdout  *drainer
	stderr  *drainer
	ended   chan *os.ProcessState
}

func startRun(req *Request) (*runProcess, error) {
	env := environment(req.Env)
	argv := req.Argv
	if len(argv) == 0 {
		argv = []string{"sh", "./cyber-dojo.sh"}
	}
	path, found := lookPath(argv[0], env)
	if !found && len(req.Fallback) > 0 {
		argv = req.Fallback
		path, _ = lookPath(argv[0], env)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	started := time.Now()
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir:   req.Sandbox,
		Env:   env,
		Files: []*os.File{devnull, outW, errW},
		Sys:   &syscall.SysProcAttr{Credential: credential(req), Setsid: true},
	})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	r := &runProcess{
		proc:    proc,
		started: started,
		stdout:  drain(outR, req.OutCap),
		stderr:  drain(errR, req.OutCap),
		ended:   make(chan *os.ProcessState, 1),
	}
	go func() {
		state, _ := proc.Wait()
		r.ended <- state
	}()
	return r, nil
}

// wait waits for the run's end, for at most limit; false when it did not end.
func (r *runProcess) wait(limit time.Duration) (*os.ProcessState, bool) {
	select {
	case state := <-r.ended:
		return state, state != nil
	case <-time.After(limit):
		return nil, false
	}
}

// output is what the run wrote, once both streams ended (every writer gone) or grace passed.
func (r *runProcess) output(grace time.Duration) ([]byte, []byte, bool) {
	deadline := time.After(grace)
	drained := true
	for _, d := range []*drainer{r.stdout, r.stderr} {
		select {
		case <-d.done:
		case <-deadline:
			drained = false
		}
	}
	return r.stdout.bytes(), r.stderr.bytes(), drained
}

// drainer keeps the first cap bytes of a stream and reads and drops the rest, so that a flood
// costs no memory and the writer never sees a broken pipe.
type drainer struct {
	mu   sync.Mutex
	kept bytes.Buffer
	file *os.File
	done chan struct{}
}

func drain(f *os.File, cap int) *drainer {
	d := &drainer{file: f, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		defer f.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				d.mu.Lock()
				if room := cap - d.kept.Len(); room > 0 {
					if n < room {
						room = n
					}
					d.kept.Write(buf[:room])
				}
				d.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return d
}

func (d *drainer) bytes() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.kept.Bytes()...)
}

// environment is the agent's own (the image's) with the run's variables over it.
func environment(run map[string]string) []string {
	merged := map[string]string{}
	var order []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if _, seen := merged[k]; !seen {
			order = append(order, k)
		}
		merged[k] = v
	}
	for k, v := range run {
		if _, seen := merged[k]; !seen {
			order = append(order, k)
		}
		merged[k] = v
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+merged[k])
	}
	return env
}

// lookPath finds a command on the run's PATH, as a shell would; false when it is not there.
func lookPath(name string, env []string) (string, bool) {
	if strings.Contains(name, "/") {
		_, err := os.Stat(name)
		return name, err == nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[len("PATH="):]
		}
	}
	for _, dir := range filepath.SplitList(path) {
		candidate := filepath.Join(dir, name)
		if info, err := os.Stat(candidate); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return candidate, true
		}
	}
	return name, false
}
