package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// inFolder runs the test in a new working folder holding files (a name ending in / is a folder).
func inFolder(t *testing.T, files ...string) {
	t.Helper()
	dir := t.TempDir()
	old, _ := os.Getwd()
	t.Cleanup(func() { _ = os.Chdir(old) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "/") {
			must(t, os.MkdirAll(f, 0o755))
		} else {
			must(t, os.MkdirAll(filepath.Dir(f), 0o755))
			must(t, os.WriteFile(f, []byte(f), 0o644))
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	must(t, err)
	return string(data)
}

func TestFilesAreWrittenWithTheirFolders(t *testing.T) {
	inFolder(t, "old.txt")
	for _, name := range []string{"a.txt", "x/y/z.txt", "old.txt", "new\nline", "-dash", "b\\s"} {
		if !writeFile(name, []byte("written")) {
			t.Fatalf("%q unwritten", name)
		}
		if content(t, name) != "written" {
			t.Fatalf("%q not written", name)
		}
	}
}

func TestAFolderOrAFileInTheWayLeavesTheFileUnwritten(t *testing.T) {
	inFolder(t, "nd/in/x", "file")
	if writeFile("nd", []byte("n")) {
		t.Fatal("a folder that is not empty was replaced")
	}
	if writeFile("file/under", []byte("u")) {
		t.Fatal("a file under a file was written")
	}
	for _, bad := range []string{"", "/abs", "../up", "a/../b", "a//b"} {
		if writeFile(bad, []byte("x")) {
			t.Fatalf("%q was written", bad)
		}
	}
}

func TestASymlinkedFolderIsNeverWrittenThrough(t *testing.T) {
	inFolder(t)
	outside := t.TempDir()
	must(t, os.Symlink(outside, "link"))
	if writeFile("link/planted", []byte("p")) {
		t.Fatal("written through a symlinked folder")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatal("something was written outside")
	}
	deleteFile("link/x")
}

func TestASymlinkFifoOrEmptyFolderWhereAFileGoesIsReplaced(t *testing.T) {
	inFolder(t, "empty/")
	target := filepath.Join(t.TempDir(), "target")
	must(t, os.WriteFile(target, []byte("target"), 0o644))
	must(t, os.Symlink(target, "steal"))
	must(t, syscall.Mkfifo("fifo", 0o644))
	for _, name := range []string{"steal", "fifo", "empty"} {
		if !writeFile(name, []byte(name)) || content(t, name) != name {
			t.Fatalf("%q not replaced", name)
		}
		if info, _ := os.Lstat(name); !info.Mode().IsRegular() {
			t.Fatalf("%q is not a file", name)
		}
	}
	if content(t, target) != "target" {
		t.Fatal("written through a symlink")
	}
}

func TestADeletionRemovesFilesNeverFolders(t *testing.T) {
	inFolder(t, "a.txt", "d/", "d/in.txt")
	deleteFile("a.txt")
	deleteFile("d")
	deleteFile("never")
	if _, err := os.Lstat("a.txt"); err == nil {
		t.Fatal("a.txt is still there")
	}
	if _, err := os.Lstat("d/in.txt"); err != nil {
		t.Fatal("a folder was removed")
	}
}

// names are the report's headers, each its kind and name, sorted.
func names(rep *Report) []string {
	var found []string
	data := string(rep.Bytes())
	for data != "" && data[0] != '.' {
		nul := strings.IndexByte(data, 0)
		found = append(found, data[:nul])
		data = data[nul+strings.IndexByte(data[nul:], '\n')+1:]
	}
	sort.Strings(found)
	return found
}

func TestCreatedChangedAndDeletedFilesAreReportedAndNothingElse(t *testing.T) {
	inFolder(t, "same.txt", "changed.txt", "gone.txt", "d/gone.txt", "to-fifo")
	before := snapshot(100)
	must(t, os.WriteFile("changed.txt", []byte("new"), 0o644))
	must(t, os.Remove("gone.txt"))
	must(t, os.RemoveAll("d"))
	must(t, os.Remove("to-fifo"))
	must(t, syscall.Mkfifo("to-fifo", 0o644))
	must(t, os.WriteFile("new\nline", []byte("n"), 0o644))
	must(t, os.Symlink("same.txt", "link"))
	must(t, os.Mkdir("folder", 0o755))
	rep := &Report{}
	reportFiles(rep, before, snapshot(100), 100, 10, false)
	want := []string{"Cnew\nline", "Mchanged.txt", "Xd/gone.txt", "Xgone.txt", "Xto-fifo"}
	if got := names(rep); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

func TestAFileIsSentUpToItsCap(t *testing.T) {
	inFolder(t)
	before := snapshot(100)
	must(t, os.WriteFile("big", []byte("0123456789abc"), 0o644))
	rep := &Report{}
	reportFiles(rep, before, snapshot(100), 100, 10, false)
	if got := string(rep.Bytes()); got != "Cbig\x0010\n.\x000\n0123456789" {
		t.Fatalf("got %q", got)
	}
}

func TestASandboxPastMaxFilesIsComparedUpToThemAndSaysSo(t *testing.T) {
	inFolder(t, "a", "b", "c")
	before := snapshot(2)
	if !before.over || len(before.names) != 2 {
		t.Fatalf("got %+v", before)
	}
	must(t, os.WriteFile("d", []byte("d"), 0o644))
	rep := &Report{}
	reportFiles(rep, before, snapshot(2), 2, 10, false)
	if got := names(rep); strings.Join(got, "|") != "L2" {
		t.Fatalf("a created file is not known to be new past the bound: %q", got)
	}
}

func TestEmptyingAPlaceRemovesEverythingWhateverItsModes(t *testing.T) {
	inFolder(t, "place/trap/x/f", "place/.hidden")
	must(t, os.Chmod("place/trap/x", 0))
	must(t, os.Chmod("place/trap", 0))
	must(t, os.Symlink("/etc/passwd", "place/link"))
	if !emptyPlace("place") {
		t.Fatal("not emptied")
	}
	if entries, _ := os.ReadDir("place"); len(entries) != 0 {
		t.Fatalf("left %v", entries)
	}
	if !emptyPlace("no-such-place") {
		t.Fatal("a place that is not there is empty")
	}
}

func TestBinaryFilesAreDroppedWhenAsked(t *testing.T) {
	inFolder(t)
	before := snapshot(100)
	must(t, os.WriteFile("text", []byte("text"), 0o644))
	must(t, os.WriteFile("binary", []byte("a\x00b"), 0o644))
	must(t, os.WriteFile("one", []byte{0}, 0o644))
	rep := &Report{}
	reportFiles(rep, before, snapshot(100), 100, 10, true)
	if got := names(rep); strings.Join(got, "|") != "Cone|Ctext" {
		t.Fatalf("got %q", got)
	}
	if _, err := os.Lstat("binary"); err == nil {
		t.Fatal("the binary file is still there")
	}
}

func TestAFileOutsideTheSandboxIsWrittenWithItsFoldersNeverThroughASymlink(t *testing.T) {
	inFolder(t)
	dir, _ := os.Getwd()
	home := filepath.Join(dir, "home", "sandbox")
	if !writeOutside(filepath.Join(home, "cleaners.sh"), []byte("f")) || content(t, filepath.Join(home, "cleaners.sh")) != "f" {
		t.Fatal("not written")
	}
	target := filepath.Join(dir, "target")
	must(t, os.WriteFile(target, []byte("target"), 0o644))
	must(t, os.Symlink(target, filepath.Join(home, "link")))
	if !writeOutside(filepath.Join(home, "link"), []byte("x")) || content(t, target) != "target" {
		t.Fatal("written through a symlink")
	}
	if writeOutside("relative", []byte("x")) {
		t.Fatal("a relative path was written")
	}
}
