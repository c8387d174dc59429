package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/resume"
)

// Script commands for the bad-input scripts (testdata/script/bad_*.txtar).

// checkpoint garbage|truncate|version|empty|dir: spoil the one checkpoint of
// the store in $STATE (cp-*.json), as a crash, a bad disk or another version would; dir
// puts a directory in its place, so that it can be neither read nor replaced.
func cmdCheckpoint(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: checkpoint garbage|truncate|version|empty|dir")
	}
	// The store keeps its files in a private directory inside $STATE.
	store, err := resume.Open(ts.Getenv("STATE"))
	ts.Check(err)
	all, err := filepath.Glob(filepath.Join(store.Dir(), "cp-*.json"))
	ts.Check(err)
	var paths []string
	for _, p := range all {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			paths = append(paths, p)
		}
	}
	if len(paths) != 1 {
		ts.Fatalf("%d checkpoints in $STATE, want 1", len(paths))
	}
	p := paths[0]
	data, err := os.ReadFile(p)
	ts.Check(err)
	switch args[0] {
	case "garbage":
		data = []byte("\x00\xff not a checkpoint {{{\n")
	case "truncate":
		data = data[:len(data)/2]
	case "version":
		v := `"version": ` + strconv.Itoa(resume.Version)
		if !strings.Contains(string(data), v) {
			ts.Fatalf("checkpoint has no %s", v)
		}
		data = []byte(strings.Replace(string(data), v, `"version": 99`, 1))
	case "empty":
		data = nil
	case "dir":
		ts.Check(os.Remove(p))
		ts.Check(os.Mkdir(p, 0o700))
		return
	default:
		ts.Fatalf("checkpoint: unknown damage %q", args[0])
	}
	ts.Check(os.WriteFile(p, data, 0o600))
}

// onpart N grow|shrink|touch FILE: start a proxy in front of the emulator's
// OSS that, when the Nth UploadPart request arrives (before OSS sees it),
// appends to FILE, cuts it in half, or moves its modification time; its
// endpoint goes to $HOOKOSS (give it to put as --oss-endpoint). This is the
// deterministic form of "the file changed during the upload".
func cmdOnPart(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: onpart N grow|shrink|touch FILE")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	path := ts.MkAbs(args[2])
	change := map[string]func() error{
		"grow": func() error {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := f.Write([]byte("appended while uploading")); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
		"shrink": func() error {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			return os.Truncate(path, fi.Size()/2)
		},
		"touch": func() error {
			t := time.Now().Add(-time.Hour)
			return os.Chtimes(path, t, t)
		},
	}[args[1]]
	if change == nil {
		ts.Fatalf("onpart: unknown change %q", args[1])
	}
	oss := emu(ts).OSS
	var parts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") && parts.Add(1) == int64(n) {
			if err := change(); err != nil {
				http.Error(w, "onpart: "+err.Error(), http.StatusTeapot)
				return
			}
		}
		oss.ServeHTTP(w, r)
	}))
	ts.Defer(srv.Close)
	ts.Setenv("HOOKOSS", srv.URL)
}

// mpu N: exactly N multipart uploads are open on the emulator's OSS.
func cmdMPU(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: mpu N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := len(emu(ts).OSS.Uploads(emulator.Bucket))
	if (got == want) == neg {
		ts.Fatalf("%d multipart uploads open on OSS, want %s%d", got, map[bool]string{true: "not "}[neg], want)
	}
}

// holdlock MEDIA_ID: hold the state-dir lock of MEDIA_ID, as a concurrent
// run would, until the script ends.
func cmdHoldLock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: holdlock MEDIA_ID")
	}
	store, err := resume.Open(ts.Getenv("STATE"))
	ts.Check(err)
	h, err := store.Lock(args[0])
	ts.Check(err)
	ts.Defer(func() { h.Close() })
}

// nofaults: remove every OSS fault injected so far, so that a script can
// inject one that never runs out (times=999) and still go on.
func cmdNoFaults(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 0 {
		ts.Fatalf("usage: nofaults")
	}
	emu(ts).OSS.ClearFaults()
}
