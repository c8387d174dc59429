package nofollow

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// redirector answers every request with status and a Location on target,
// with a query that stands for a signature.
func redirector(t *testing.T, status int, target string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+"/steal?Signature=SIGNATURE123", status)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestClientRefusesRedirects(t *testing.T) {
	var reached atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer sink.Close()
	sinkHost := strings.TrimPrefix(sink.URL, "http://")

	callers := map[string]*http.Client{"nil": nil, "caller's": {Transport: http.DefaultTransport}}
	for _, status := range []int{301, 302, 303, 307, 308} {
		for name, caller := range callers {
			src := redirector(t, status, sink.URL)
			req, _ := http.NewRequest(http.MethodPut, src.URL+"/obj", strings.NewReader("body"))
			req.Header.Set("X-Oss-Security-Token", "TOKEN")
			resp, err := Client(caller).Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			var re *RedirectError
			if !errors.As(err, &re) {
				t.Fatalf("%d, %s client: err = %v, want a *RedirectError", status, name, err)
			}
			if re.Host != sinkHost || re.Status != status {
				t.Errorf("%d, %s client: RedirectError = %+v, want host %s", status, name, re, sinkHost)
			}
			if msg := re.Error(); !strings.Contains(msg, sinkHost) || strings.Contains(msg, "SIGNATURE123") || strings.Contains(msg, "/steal") {
				t.Errorf("%d: message %q should name the host and nothing else of the Location", status, msg)
			}
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the redirect target, want 0", n)
	}
}

func TestClientLeavesCallerAlone(t *testing.T) {
	tr := &http.Transport{}
	own := func(*http.Request, []*http.Request) error { return nil }
	caller := &http.Client{Transport: tr, CheckRedirect: own}
	c := Client(caller)
	if caller.CheckRedirect == nil || c == caller || c.Transport != tr {
		t.Fatalf("Client must copy: caller %+v, copy %+v", caller, c)
	}
	// The caller's policy is its own: the caller's client still follows.
	var reached atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer sink.Close()
	resp, err := caller.Get(redirector(t, 302, sink.URL).URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if reached.Load() != 1 {
		t.Errorf("the caller's own client did not follow its redirect")
	}
	var ue *url.Error
	_, err = c.Get(redirector(t, 302, sink.URL).URL)
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v", err)
	}
	if reached.Load() != 1 {
		t.Errorf("the copy followed a redirect")
	}
}
