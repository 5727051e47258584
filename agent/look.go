package main

// The agent's own look at the container after a run, as root: whether it may serve another
// avatar. It decides from what it sees itself, never from anything a run wrote.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Look is what the agent saw: clean, or the reasons it is not; and how many processes the
// kernel killed for memory in the container since it was made.
type Look struct {
	Reasons  []string
	OOMKills int
}

// look looks at the container, and again for up to 0.2 s while it is not clean: a run's last
// processes may still be being reaped by init.
func look(proc, cgroup string, scratch []string) Look {
	var seen Look
	for tries := 0; tries < 20; tries++ {
		seen = lookOnce(proc, cgroup, scratch)
		if len(seen.Reasons) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return seen
}

func lookOnce(proc, cgroup string, scratch []string) Look {
	var seen Look
	seen.Reasons = append(seen.Reasons, lookAtTasks(proc, cgroup)...)
	for _, place := range scratch {
		entries, err := os.ReadDir(place)
		if err == nil && len(entries) > 0 {
			seen.Reasons = append(seen.Reasons, place+":not-empty")
		}
	}
	for _, kind := range []string{"shm", "msg", "sem"} {
		data, err := os.ReadFile(proc + "/sysvipc/" + kind)
		if err != nil {
			seen.Reasons = append(seen.Reasons, kind+":unreadable")
		} else if strings.Count(string(data), "\n") > 1 { // a heading, then a line an object
			seen.Reasons = append(seen.Reasons, "ipc:"+kind)
		}
	}
	kills, ok := oomKills(cgroup)
	switch {
	case !ok:
		seen.Reasons = append(seen.Reasons, "oom:unreadable")
	case kills > 0:
		seen.Reasons = append(seen.Reasons, fmt.Sprintf("oom:%d", kills))
	}
	seen.OOMKills = kills
	return seen
}

// lookAtTasks: the pids cgroup counts every task of the container at once, so no process can
// hide from it (a walk of /proc could miss one that forks behind the walk and dies ahead of
// it); init and the agent's own threads are all it may hold. The walk only names the rest.
func lookAtTasks(proc, cgroup string) []string {
	mine := 0
	if os.Getpid() != 1 {
		mine = 1 // init
	}
	before, ok1 := threads(proc)
	tasks, ok2 := readNumber(cgroup+"/pids/pids.current", cgroup+"/pids.current")
	after, ok3 := threads(proc)
	if !ok1 || !ok2 || !ok3 {
		return []string{"pids:unreadable"}
	}
	if before == after && tasks == mine+before {
		return nil
	}
	reasons := []string{fmt.Sprintf("tasks:%d", tasks)}
	entries, _ := os.ReadDir(proc)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == os.Getpid() {
			continue
		}
		if uid, ok := statusField(proc+"/"+e.Name()+"/status", "Uid:"); ok {
			reasons = append(reasons, fmt.Sprintf("pid%d:uid%s", pid, strings.Fields(uid)[0]))
		}
	}
	return reasons
}

func threads(proc string) (int, bool) {
	value, ok := statusField(proc+"/self/status", "Threads:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(value)
	return n, err == nil
}

// oomKills is the kernel's count of OOM kills in the container's memory cgroup (v1, else v2).
func oomKills(cgroup string) (int, bool) {
	for _, path := range []string{cgroup + "/memory/memory.oom_control", cgroup + "/memory.events"} {
		if value, ok := statusField(path, "oom_kill "); ok {
			n, err := strconv.Atoi(value)
			return n, err == nil
		}
	}
	return 0, false
}

func readNumber(paths ...string) (int, bool) {
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(data)))
		return n, err == nil
	}
	return 0, false
}
