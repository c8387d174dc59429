package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
)

// startUI runs `reupload ui ARGS` in-process until the returned stop is
// called; it returns the one line printed on stdout.
func startUI(t *testing.T, openURL func(string) error, args ...string) (line string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncWriter{w: &bytes.Buffer{}}
	e := &env{stdin: strings.NewReader(""), stdout: pw, stderr: stderr, getenv: os.Getenv, openURL: openURL}
	done := make(chan int, 1)
	go func() { done <- e.ui(ctx, args); pw.Close() }()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		cancel()
		code := <-done
		t.Fatalf("no line on stdout (exit %d): %s", code, stderr.String())
	}
	line = sc.Text()
	go io.Copy(io.Discard, pr)
	return line, func() (int, string) {
		cancel()
		code := <-done
		return code, stderr.String()
	}
}

func TestUICommand(t *testing.T) {
	em, err := emulator.Start(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	info := em.Info()
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", info.AccessKeyID)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", info.AccessKeySecret)
	opened := make(chan string, 2)

	root, state := t.TempDir(), t.TempDir()
	line, stop := startUI(t, func(u string) error { opened <- u; return nil }, "--endpoint", info.ICEEndpoint, "--root", root, "--state-dir", state, "--addr", "127.0.0.1:0")
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{48}$`).MatchString(line) {
		t.Errorf("stdout line %q", line)
	}
	if u := <-opened; u != line { // the browser is opened once the line is out
		t.Errorf("browser opened %q, want the printed URL", u)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(line)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("open the URL: %s %v", resp.Status, resp.Cookies())
	}
	base := strings.SplitN(line, "/?", 2)[0]
	req, _ := http.NewRequest("GET", base+"/api/search?q="+info.Media[0].MediaID, nil)
	req.AddCookie(resp.Cookies()[0])
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), info.Media[0].Title) {
		t.Errorf("search through the command: %s %s", resp.Status, b)
	}
	code, stderr := stop()
	if code != reupload.ExitOK {
		t.Errorf("exit %d after the signal; stderr: %s", code, stderr)
	}
	for _, s := range em.IssuedSecrets() {
		if strings.Contains(stderr, s) || strings.Contains(string(b), s) {
			t.Error("a secret in the output")
		}
	}

	// --no-browser opens nothing (the server has stopped when stop returns).
	_, stop = startUI(t, func(u string) error { opened <- u; return nil }, "--endpoint", info.ICEEndpoint, "--root", root, "--state-dir", state, "--no-browser")
	stop()
	if len(opened) != 0 {
		t.Errorf("--no-browser opened %q", <-opened)
	}
}

func TestUIRefusesBadFlags(t *testing.T) {
	root := t.TempDir()
	file := root + "/f"
	os.WriteFile(file, nil, 0o644)
	for _, args := range [][]string{
		{"--addr", "0.0.0.0:0", "--root", root},
		{"--addr", "192.0.2.1:8080", "--root", root},
		{"--addr", ":0", "--root", root},
		{"--root", root + "/missing"},
		{"--root", file},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: os.Getenv}
		if code := e.ui(context.Background(), append([]string{"--no-browser"}, args...)); code != reupload.ExitUsage {
			t.Errorf("ui %q: exit %d, want 2; stderr %s", args, code, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("ui %q printed %q", args, stdout.String())
		}
	}
}

// syncWriter lets the server's log lines and the test's read not race.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
