package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// serve VAR [norange]: serve the script's work dir over HTTP on loopback
// (http.FileServer: Range, Last-Modified, If-Unmodified-Since) and put its
// URL in $VAR (and host:port in $VAR_HOST). With norange, every GET gets the whole file with 200, as from
// a server without Range support. Requests must carry the basic auth
// user "reader", password "pa55word" when the URL gives any.
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "norange" {
		ts.Fatalf("usage: serve VAR [norange]")
	}
	dir := ts.MkAbs(".")
	var h http.Handler = http.FileServer(http.Dir(dir))
	if len(args) == 2 {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Write(b)
		})
	}
	auth := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && (u != "reader" || p != "pa55word") {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		auth.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
	ts.Setenv(args[0]+"_HOST", strings.TrimPrefix(srv.URL, "http://"))
}

// expand SRC DST: copy SRC to DST with $VARs replaced by the script's values.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: expand SRC DST")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(os.Expand(ts.ReadFile(args[0]), ts.Getenv)), 0o644))
}
