package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/reupload/reupload/internal/emulator"
)

// TestSourceScripts runs the scripts for sources beyond a local file (URLs
// and stdin) with the same environment as TestScripts, plus `serve`.
func TestSourceScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/sources",
		Setup: func(env *testscript.Env) error {
			em, err := emulator.Start(emulator.Config{Media: 2})
			if err != nil {
				return err
			}
			env.Defer(em.Close)
			info := em.Info()
			env.Values["em"] = em
			for k, v := range map[string]string{
				"ICE": info.ICEEndpoint, "OSS": info.OSSEndpoint,
				"MEDIA": info.Media[0].MediaID, "MEDIA2": info.Media[1].MediaID,
				"ALIBABA_CLOUD_ACCESS_KEY_ID":         info.AccessKeyID,
				"ALIBABA_CLOUD_ACCESS_KEY_SECRET":     info.AccessKeySecret,
				"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
				"ALIBABA_CLOUD_CLI_PROFILE_DISABLED":  "true",
				"ALIBABA_CLOUD_CONFIG_FILE":           filepath.Join(env.WorkDir, "no-aliyun-config.json"),
				"ALIBABA_CLOUD_CREDENTIALS_FILE":      filepath.Join(env.WorkDir, "no-credentials.ini"),
				"HOME":                                env.WorkDir,
				"XDG_CACHE_HOME":                      filepath.Join(env.WorkDir, ".cache"),
				"STATE":                               filepath.Join(env.WorkDir, "state"),
			} {
				env.Setenv(k, v)
			}
			if os.Getenv("GORACE") == "" {
				env.Setenv("GORACE", "atexit_sleep_ms=0")
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkfile":   cmdMkfile,
			"object":   cmdObject,
			"nosecret": cmdNoSecret,
			"onpart":   cmdOnPart,
			"serve":    cmdServe,
			"nospool":  cmdNoSpool,
			"expand":   cmdExpand,
		},
	})
}

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

// nospool: the state dir holds no spooled stdin file.
func cmdNoSpool(ts *testscript.TestScript, neg bool, args []string) {
	m, err := filepath.Glob(filepath.Join(ts.Getenv("STATE"), "spool-*"))
	ts.Check(err)
	if len(m) != 0 {
		ts.Fatalf("spool files left in the state dir: %v", m)
	}
}
