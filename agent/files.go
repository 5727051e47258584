package main

// The sandbox's files, as the avatar's uid sees them: a request's deletions and writes, and
// the snapshots before and after a run that give its created, changed and deleted files.
// Nothing here follows a symlink: a planted one can lead no write or read out of the sandbox.

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// parentsAreFolders says whether every folder on the way to name (relative to the working
// folder) is a real folder, making the missing ones when make is true.
func parentsAreFolders(name string, make bool) bool {
	parts := strings.Split(name, "/")
	at := "."
	for _, part := range parts[:len(parts)-1] {
		if part == "" || part == "." || part == ".." {
			return false
		}
		at = at + "/" + part
		info, err := os.Lstat(at)
		switch {
		case err == nil && info.IsDir():
		case errors.Is(err, fs.ErrNotExist) && make:
			if os.Mkdir(at, 0o755) != nil {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// deleteFile removes a file of the sandbox, as rm -f would: no folder, no error.
func deleteFile(name string) {
	if !parentsAreFolders(name, false) {
		return
	}
	path := "./" + name
	if info, err := os.Lstat(path); err == nil && !info.IsDir() {
		_ = os.Remove(path)
	}
}

// writeFile writes a file of the sandbox; false when it could not. What sits in its place and
// is neither a file nor a folder (a symlink, a fifo) is removed first, and an empty folder too.
func writeFile(name string, data []byte) bool {
	if name == "" || strings.HasPrefix(name, "/") || !parentsAreFolders(name, true) {
		return false
	}
	path := "./" + name
	if info, err := os.Lstat(path); err == nil && !info.Mode().IsRegular() {
		if os.Remove(path) != nil {
			return false
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC | syscall.O_NOFOLLOW
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrPermission) {
		// A file the avatar made read-only: replaced, as cp -f does.
		if os.Remove(path) != nil {
			return false
		}
		f, err = os.OpenFile(path, flags|os.O_EXCL, 0o644)
	}
	if err != nil {
		return false
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	return werr == nil && cerr == nil
}

// Snapshot is the md5 of every readable regular file under the working folder, by name,
// in the order of a sorted walk; over says the walk stopped at its bound.
type Snapshot struct {
	names  []string
	hashes map[string][md5.Size]byte
	over   bool
}

// snapshot walks the sandbox, not through symlinks, up to maxFiles files (and as many
// folders times four), so that no state of a sandbox makes its runs slow.
func snapshot(maxFiles int) *Snapshot {
	s := &Snapshot{hashes: map[string][md5.Size]byte{}}
	folders := 0
	var walk func(dir string) bool
	walk = func(dir string) bool {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return true
		}
		for _, e := range entries {
			name := e.Name()
			path := dir + "/" + name
			switch {
			case e.Type()&fs.ModeSymlink != 0:
			case e.Type().IsRegular():
				sum, ok := hashOf(path)
				if !ok {
					continue
				}
				if len(s.names) >= maxFiles {
					s.over = true
					return false
				}
				rel := strings.TrimPrefix(path, "./")
				s.names = append(s.names, rel)
				s.hashes[rel] = sum
			case e.IsDir():
				folders++
				if folders > 4*maxFiles {
					s.over = true
					return false
				}
				if !walk(path) {
					return false
				}
			}
		}
		return true
	}
	walk(".")
	return s
}

func hashOf(path string) ([md5.Size]byte, bool) {
	var sum [md5.Size]byte
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return sum, false
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, false
	}
	copy(sum[:], h.Sum(nil))
	return sum, true
}

// head reads the first n bytes of a file, not through a symlink.
func head(path string, n int) ([]byte, bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(n)))
	return data, err == nil
}

// reportFiles adds the files the run created (C), changed (M) and deleted (X) to the report,
// and L when a walk stopped at its bound. With dropBinary, a created or changed binary file
// is removed instead of reported.
func reportFiles(rep *Report, before, after *Snapshot, maxFiles, fileCap int, dropBinary bool) {
	if before.over || after.over {
		rep.Number('L', maxFiles)
	}
	for _, name := range after.names {
		old, known := before.hashes[name]
		kind := byte(0)
		switch {
		case !known && !before.over:
			kind = 'C'
		case known && old != after.hashes[name]:
			kind = 'M'
		}
		if kind == 0 {
			continue
		}
		data, ok := head("./"+name, fileCap)
		if !ok {
			rep.Fault("reading a created or changed file")
			continue
		}
		if dropBinary && isBinary(data) {
			_ = os.Remove("./" + name)
			continue
		}
		rep.Header(kind, name, data)
	}
	for _, name := range before.names {
		info, err := os.Lstat("./" + name)
		if err != nil || !info.Mode().IsRegular() {
			rep.Header('X', name, nil)
		}
	}
}

// emptyPlace removes everything in a writable place outside the sandboxes (/tmp, ...) that
// this uid can remove, whatever its modes; false when something is left.
func emptyPlace(place string) bool {
	entries, err := os.ReadDir(place)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	clean := true
	for _, e := range entries {
		if !removeAll(filepath.Join(place, e.Name())) {
			clean = false
		}
	}
	return clean
}

func removeAll(path string) bool {
	info, err := os.Lstat(path)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	if info.IsDir() {
		_ = os.Chmod(path, 0o700)
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			removeAll(filepath.Join(path, e.Name()))
		}
	}
	err = os.Remove(path)
	return err == nil || errors.Is(err, fs.ErrNotExist)
}

// isBinary says a file is binary as git and grep do: a NUL byte in its first 8 KiB. A file of
// fewer than two bytes is text, as cyber-dojo's runner takes it.
func isBinary(data []byte) bool {
	if len(data) < 2 {
		return false
	}
	if len(data) > 8192 {
		data = data[:8192]
	}
	return bytes.IndexByte(data, 0) >= 0
}

// writeOutside writes a file by absolute path outside the sandbox (the home), making its
// missing folders, never through a symlink at its place; false when it could not.
func writeOutside(path string, data []byte) bool {
	if !filepath.IsAbs(path) {
		return false
	}
	if os.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return false
	}
	if info, err := os.Lstat(path); err == nil && !info.Mode().IsRegular() {
		if os.Remove(path) != nil {
			return false
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return false
	}
	_, werr := f.Write(data)
	return f.Close() == nil && werr == nil
}
