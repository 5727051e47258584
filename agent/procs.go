package main

// The container's processes, as /proc lists them.

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// processesOf lists the pids whose real uid is uid, but skip.
func processesOf(proc string, uid, skip int) []int {
	var found []int
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == skip {
			continue
		}
		if owner, ok := statusField(proc+"/"+e.Name()+"/status", "Uid:"); ok {
			if first := strings.Fields(owner); len(first) > 0 && first[0] == strconv.Itoa(uid) {
				found = append(found, pid)
			}
		}
	}
	return found
}

// statusField is the value of a "Key:" line of a status file.
func statusField(path, key string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if line := lines.Text(); strings.HasPrefix(line, key) {
			return strings.TrimSpace(line[len(key):]), true
		}
	}
	return "", false
}
