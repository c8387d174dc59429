package ui_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/reupload/reupload/ui"
)

// raw sends one request with exactly the given headers (no jar, no Origin).
func (h *harness) raw(t *testing.T, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, h.base+path, strings.NewReader(`{"media_id":"x","source":{"path":"a.mp4"}}`))
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (h *harness) cookie() string {
	return "reupload_ui_" + strconv.Itoa(h.port) + "=" + h.srv.Token()
}

func TestTokenBecomesCookie(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	name := "reupload_ui_" + strconv.Itoa(h.port)
	for _, tc := range []struct {
		name, path, cookie string
		want               int
	}{
		{"no token", "/", "", 403},
		{"no token, API", "/api/jobs", "", 403},
		{"no token, script", "/app.js", "", 403},
		{"wrong token", "/?token=0123", "", 403},
		{"token of another port", "/api/jobs", "reupload_ui_1=" + h.srv.Token(), 403},
		{"wrong cookie", "/api/jobs", name + "=" + strings.Repeat("0", len(h.srv.Token())), 403},
		{"cookie", "/api/jobs", h.cookie(), 200},
		{"cookie, page", "/", h.cookie(), 200},
		{"token on an API path is no login", "/api/jobs?token=" + h.srv.Token(), "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.cookie != "" {
				hdr["Cookie"] = tc.cookie
			}
			if got := h.raw(t, "GET", tc.path, hdr).StatusCode; got != tc.want {
				t.Errorf("GET %s: %d, want %d", tc.path, got, tc.want)
			}
		})
	}
	resp := h.raw(t, "GET", "/?token="+h.srv.Token(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("token login: %s to %q, want 303 to /", resp.Status, resp.Header.Get("Location"))
	}
	cs := resp.Cookies()
	if len(cs) != 1 || cs[0].Name != name || cs[0].Value != h.srv.Token() || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/" {
		t.Fatalf("cookie %+v, want %s, HttpOnly, SameSite=Strict, Path=/", cs, name)
	}
	if !strings.HasPrefix(h.srv.URL(), h.base+"/?token=") || len(h.srv.Token()) < 32 {
		t.Errorf("URL %q: want %s/?token= and a long random token", h.srv.URL(), h.base)
	}
}

// TestHostHeader: a DNS-rebinding page reaches the server under its own
// host name, with the victim's cookie if it had one: refused.
func TestHostHeader(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	p := strconv.Itoa(h.port)
	for host, want := range map[string]int{
		"127.0.0.1:" + p:          200,
		"localhost:" + p:          200,
		"[::1]:" + p:              200,
		"evil.example:" + p:       403,
		"127.0.0.1":               403,
		"localhost":               403,
		"127.0.0.1:1" + p:         403,
		"127.0.0.2:" + p:          403,
		"localhost.:" + p:         403,
		"LOCALHOST:" + p + "x":    403,
		"attacker.localhost:" + p: 403,
	} {
		if got := h.raw(t, "GET", "/api/jobs", map[string]string{"Host": host, "Cookie": h.cookie()}).StatusCode; got != want {
			t.Errorf("Host %q: %d, want %d", host, got, want)
		}
		if want == 403 {
			if got := h.raw(t, "GET", "/?token="+h.srv.Token(), map[string]string{"Host": host}).StatusCode; got != 403 {
				t.Errorf("Host %q with the token: %d, want 403", host, got)
			}
		}
	}
}

// TestOriginOnStateChanges: a page elsewhere may make the browser send a
// POST with the cookie (SameSite stops most, not all): no same-origin
// Origin, no change.
func TestOriginOnStateChanges(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	self := "http://127.0.0.1:" + strconv.Itoa(h.port)
	for _, tc := range []struct {
		origin string
		host   string
		forbid bool
	}{
		{"", "", true},
		{"null", "", true},
		{"http://evil.example", "", true},
		{"http://127.0.0.1:" + strconv.Itoa(h.port+1), "", true},
		{"https://127.0.0.1:" + strconv.Itoa(h.port), "", true},
		{"http://localhost:" + strconv.Itoa(h.port), "", true}, // another origin than the page's
		{self, "", false},
		{"http://localhost:" + strconv.Itoa(h.port), "localhost:" + strconv.Itoa(h.port), false},
	} {
		for _, path := range []string{"/api/preview", "/api/jobs", "/api/spool?name=a.mp4", "/api/jobs/x/pause", "/api/pending/x/abort"} {
			hdr := map[string]string{"Cookie": h.cookie()}
			if tc.origin != "" {
				hdr["Origin"] = tc.origin
			}
			if tc.host != "" {
				hdr["Host"] = tc.host
			}
			got := h.raw(t, "POST", path, hdr).StatusCode
			if (got == 403) != tc.forbid {
				t.Errorf("POST %s with Origin %q, Host %q: %d, forbidden want %v", path, tc.origin, tc.host, got, tc.forbid)
			}
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		path   string
		cookie bool
	}{{"/", true}, {"/app.js", true}, {"/api/jobs", true}, {"/", false}} {
		hdr := map[string]string{}
		if tc.cookie {
			hdr["Cookie"] = h.cookie()
		}
		resp := h.raw(t, "GET", tc.path, hdr)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http:") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q allows too much", tc.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", tc.path, resp.Header)
		}
	}
}

// TestNoThirdPartyAssets: the page loads nothing from elsewhere and has
// no inline script or style (which the CSP would block anyway).
func TestNoThirdPartyAssets(t *testing.T) {
	for _, name := range []string{"static/index.html", "static/app.js", "static/style.css"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "eval(", "style=\"", "onclick=\"", "<script>"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		if ln, err := ui.Listen(addr); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		ln, err := ui.Listen(addr)
		if err != nil {
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// TestFilesStayInRoot: the browser and every request naming a file refuse
// "..", absolute paths and symlinks that lead out of --root.
func TestFilesStayInRoot(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.login(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.mp4")
	h.mediaFile(t, "in/clip.mp4", 1000)
	os.WriteFile(secret, []byte("\x00\x00\x00\x18ftypmp42 outside the root"), 0o644)
	os.WriteFile(filepath.Join(h.root, "notes.txt"), []byte("not media"), 0o644)
	must(t, os.Symlink(secret, filepath.Join(h.root, "escape.mp4")))
	must(t, os.Symlink(outside, filepath.Join(h.root, "escape-dir")))
	must(t, os.Symlink("in", filepath.Join(h.root, "inside-dir")))
	must(t, os.Symlink("in/clip.mp4", filepath.Join(h.root, "inside.mp4")))

	var list struct {
		Path    string
		Entries []struct {
			Name, Path string
			Dir        bool
			Size       int64
		}
	}
	if got := h.call(t, "GET", "/api/files?path=", nil, &list); got != 200 {
		t.Fatalf("list root: %d", got)
	}
	var names []string
	for _, e := range list.Entries {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "in,inside-dir,inside.mp4" {
		t.Errorf("root lists %v, want in,inside-dir,inside.mp4 (no escaping links, no non-media)", names)
	}
	if got := h.call(t, "GET", "/api/files?path=inside-dir", nil, &list); got != 200 || len(list.Entries) != 1 || list.Entries[0].Size != 1000 {
		t.Errorf("inside-dir: %d %+v", got, list)
	}
	m := h.info.Media[0]
	for _, p := range []string{"..", "../", "in/../..", "in/../../x.mp4", "/", "/etc", secret, outside, "escape-dir", "escape-dir/secret.mp4", "escape.mp4", "in\\..\\..", "\x00"} {
		if got := h.call(t, "GET", "/api/files?path="+urlQuery(p), nil, nil); got != 403 {
			t.Errorf("list %q: %d, want 403", p, got)
		}
		for _, api := range []string{"/api/preview", "/api/jobs"} {
			if got := h.call(t, "POST", api, map[string]any{"media_id": m.MediaID, "source": map[string]string{"path": p}}, nil); got != 403 {
				t.Errorf("%s %q: %d, want 403", api, p, got)
			}
		}
	}
	var pv ui.Preview
	if got := h.call(t, "POST", "/api/preview", map[string]any{"media_id": m.MediaID, "source": map[string]string{"path": "inside.mp4"}}, &pv); got != 200 || pv.NewSize != 1000 {
		t.Errorf("preview of a symlink inside the root: %d %+v", got, pv)
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "#", "%23", "\x00", "%00", " ", "%20").Replace(s)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
