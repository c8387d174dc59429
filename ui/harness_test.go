package ui_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ui"
)

// harness is an emulator, a reupload.Client on it and a ui.Server on
// loopback, with an HTTP client that holds the cookie, sends a same-origin
// Origin on state-changing requests, and records every byte it receives
// (bodies and event streams) so that tests can look for secrets in them.
type harness struct {
	em    *emulator.Emulator
	info  emulator.Info
	c     *reupload.Client
	srv   *ui.Server
	hs    *httptest.Server
	base  string // http://127.0.0.1:PORT
	port  int
	root  string
	state string
	web   *http.Client
	rec   *recorder
	opts  harnessOpts
}

type harnessOpts struct {
	em      emulator.Config
	state   string           // "" means a new temp dir
	options reupload.Options // ClientBackend.Options
	wrap    func(ui.Backend) ui.Backend
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	em, err := emulator.Start(o.em)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(em.Close)
	h := &harness{em: em, info: em.Info(), root: t.TempDir(), state: o.state}
	if h.state == "" {
		h.state = t.TempDir()
	}
	h.opts = o
	h.start(t)
	return h
}

// start (re)starts the client and the page server, as a new `reupload ui`
// on the same state dir would.
func (h *harness) start(t *testing.T) {
	t.Helper()
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").SetAccessKeyId(h.info.AccessKeyID).SetAccessKeySecret(h.info.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	h.c, err = reupload.New(reupload.Config{Endpoint: h.info.ICEEndpoint, Credential: cred, StateDir: h.state,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ui.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.port = ln.Addr().(*net.TCPAddr).Port
	var b ui.Backend = &ui.ClientBackend{C: h.c, Options: h.opts.options}
	if h.opts.wrap != nil {
		b = h.opts.wrap(b)
	}
	srv, err := ui.New(ui.Config{Backend: b, Root: h.root,
		SpoolDir: filepath.Join(h.state, "ui-spool"), Port: h.port})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	if h.rec == nil {
		h.rec = &recorder{}
	}
	h.hs = httptest.NewUnstartedServer(h.rec.wrap(srv))
	h.hs.Listener.Close()
	h.hs.Listener = ln
	h.hs.Start()
	h.base = "http://127.0.0.1:" + strconv.Itoa(h.port)
	t.Cleanup(func() { h.stop(t) })
	jar, _ := cookiejar.New(nil)
	h.web = &http.Client{Jar: jar, Transport: &originTransport{base: h.base},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// stop shuts the page server down as SIGINT does: uploads pause.
func (h *harness) stop(t *testing.T) {
	if h.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.srv.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	h.hs.Close()
	h.srv.Close()
	h.srv = nil
}

// login opens the printed URL: the token becomes the cookie.
func (h *harness) login(t *testing.T) {
	t.Helper()
	resp, err := h.web.Get(h.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET the printed URL: %s, want 303", resp.Status)
	}
}

// recorder keeps every header and byte the server sent, to any client
// (the test's or the browser), event streams included.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(&recordingWriter{ResponseWriter: w, rec: r}, req)
	})
}

type recordingWriter struct {
	http.ResponseWriter
	rec *recorder
}

func (w *recordingWriter) WriteHeader(code int) {
	for k, vs := range w.Header() {
		for _, v := range vs {
			io.WriteString(w.rec, k+": "+v+"\n")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.rec.Write(p)
	return w.ResponseWriter.Write(p)
}

func (w *recordingWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// originTransport sends the page's Origin on state-changing requests, as
// a browser does.
type originTransport struct{ base string }

func (o *originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead && req.Header.Get("Origin") == "" {
		req.Header.Set("Origin", o.base)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// call sends a request and decodes a JSON answer into out (when not nil).
func (h *harness) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	resp, err := h.web.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// events follows the event stream, handing each job event to f until f
// returns true or the stream ends.
func (h *harness) events(t *testing.T, f func(j ui.Job) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/api/events", nil)
	resp, err := h.web.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var j ui.Job
		if err := json.Unmarshal([]byte(data), &j); err != nil {
			t.Fatalf("event %s: %v", data, err)
		}
		if f(j) {
			return
		}
	}
	t.Fatalf("event stream ended: %v", sc.Err())
}

// waitState follows the events until job id reaches one of states.
func (h *harness) waitState(t *testing.T, id string, states ...string) ui.Job {
	t.Helper()
	var last ui.Job
	h.events(t, func(j ui.Job) bool {
		if j.ID != id {
			return false
		}
		last = j
		for _, s := range states {
			if j.State == s {
				return true
			}
		}
		if j.State == ui.StateFailed {
			t.Fatalf("job failed: %s", j.Message)
		}
		return false
	})
	return last
}

// mediaFile writes a file under the root that starts like an MP4.
func (h *harness) mediaFile(t *testing.T, rel string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	copy(b, "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	for i := 24; i < size; i++ {
		b[i] = byte(i*7 + i/251)
	}
	p := filepath.Join(h.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// object reads what OSS holds for media m.
func (h *harness) object(t *testing.T, m emulator.Media) []byte {
	t.Helper()
	b, err := h.em.OSS.ReadObject(m.Bucket, m.Object)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noSecrets fails when any secret the emulator handed out reached the page.
func (h *harness) noSecrets(t *testing.T) {
	t.Helper()
	got := h.rec.String()
	if len(got) == 0 {
		t.Fatal("nothing recorded")
	}
	for _, s := range h.em.IssuedSecrets() {
		if s != "" && strings.Contains(got, s) {
			t.Errorf("a secret (%d chars) reached the page", len(s))
		}
		if q := url.QueryEscape(s); s != "" && strings.Contains(got, q) {
			t.Errorf("a URL-escaped secret (%d chars) reached the page", len(s))
		}
	}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
