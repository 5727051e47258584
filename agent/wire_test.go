package main

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestARequestIsItsSizeThenItsJSON(t *testing.T) {
	body := `{"op":"run","nonce":"n1","files":[{"name":"a b","data":"aGk="}]}`
	in := bufio.NewReader(strings.NewReader(strconv.Itoa(len(body)) + "\n" + body + "7\n{\"op\":1"))
	req, err := readRequest(in)
	if err != nil || req.Op != "run" || req.Nonce != "n1" || string(req.Files[0].Data) != "hi" {
		t.Fatalf("got %+v, %v", req, err)
	}
	if _, err := readRequest(in); err == nil || err == io.EOF {
		t.Fatalf("a request that is no JSON: %v", err)
	}
	if _, err := readRequest(bufio.NewReader(strings.NewReader(""))); err != io.EOF {
		t.Fatalf("the end of the stream: %v", err)
	}
	for _, bad := range []string{"x\n{}", "-1\n", "3\n{}"} {
		if _, err := readRequest(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Fatalf("%q read", bad)
		}
	}
}

func TestAReportIsItsHeadersThenTheirContentsInOrder(t *testing.T) {
	rep := &Report{}
	rep.Number('S', 3)
	rep.Header('O', "", []byte("out"))
	rep.Header('C', "new\nline.txt", []byte("ab"))
	rep.Fault("one")
	rep.Fault("two")
	rep.Fault("one")
	want := "S3\x000\nO\x003\nCnew\nline.txt\x002\nFone; two\x000\n.\x000\noutab"
	if got := string(rep.Bytes()); got != want {
		t.Fatalf("got %q", got)
	}
}

func TestAnAnswerNamesItsNonceAndBothSizes(t *testing.T) {
	var out bytes.Buffer
	if err := answer(&out, "n1", []byte("root"), []byte("files!")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "n1 4 6\nrootfiles!" {
		t.Fatalf("got %q", out.String())
	}
}
