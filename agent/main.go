// The runner's agent: the one program the runner runs in a kata's containers. It is static,
// so it runs unchanged on any image (busybox, musl or glibc, with a shell or without), and the
// runner makes it present on each docker host in a read-only volume of its own.
//
//	agent serve        a live kata container's own root process: answers the worker's
//	                   requests on stdin (runs and looks), one at a time, until stdin ends
//	agent once         a fresh run container's command: one request on stdin, one answer
//	agent admin STEP   a step on a kata's volume (ARCHITECTURE.md, "The agent")
//	agent install DIR  puts this binary at DIR/agent, whole or not at all
//	agent helper       (its own) a run's file work, as the avatar's uid
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// Exit codes, each with one meaning (sandbox/scripts.py's Exit table has the same).
const (
	exitNoSandbox  = 91
	exitBadRequest = 92
	exitNoLayout   = 93
	exitNotEmptied = 95
	exitNotFilled  = 96
	exitNoStep     = 97
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: agent serve|once|admin|install|helper")
		os.Exit(exitNoStep)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(false))
	case "once":
		os.Exit(serve(true))
	case "helper":
		os.Exit(helper())
	case "admin":
		os.Exit(admin(os.Args[2:]))
	case "install":
		os.Exit(install(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "agent: no command %q\n", os.Args[1])
		os.Exit(exitNoStep)
	}
}

// serve answers requests until stdin ends (or after one, once).
func serve(once bool) int {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for {
		req, err := readRequest(in)
		if err == io.EOF {
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "agent:", err)
			return exitBadRequest
		}
		defaults(req)
		var root, files []byte
		noSandbox := false
		switch req.Op {
		case "run":
			root, files, noSandbox = runOnce(req)
		case "look":
			root = finish(&Report{}, req)
		default:
			rep := &Report{}
			rep.Fault("no such request: " + req.Op)
			root = rep.Bytes()
		}
		if answer(out, req.Nonce, root, files) != nil || out.Flush() != nil {
			return 1
		}
		if once {
			if noSandbox {
				return exitNoSandbox
			}
			return 0
		}
	}
}

func defaults(req *Request) {
	if req.Proc == "" {
		req.Proc = "/proc"
	}
	if req.Cgroup == "" {
		req.Cgroup = "/sys/fs/cgroup"
	}
}
