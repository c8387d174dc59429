//go:build unix

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ossutilVersion is the ossutil the bench builds from the Go module cache
// (`go install …@latest` is refused here, and the version is pinned so the
// figures mean the same thing from run to run).
const ossutilVersion = "v1.7.19"

// buildPeers builds the contenders that are not the bench binary itself:
// ossutil from the module cache and the SDK v2 child from bench/peers (a
// module of its own). Each only when a case needs it, once.
func (b *bench) buildPeers(ctx context.Context) error {
	out, err := filepath.Abs(b.cfg.work)
	if err != nil {
		return err
	}
	if b.ossutil == "" {
		b.logf("building ossutil %s from the module cache", ossutilVersion)
		dl, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/aliyun/ossutil@"+ossutilVersion).Output()
		if err != nil {
			return fmt.Errorf("go mod download ossutil: %w", err)
		}
		dir, err := jsonField(dl, "Dir")
		if err != nil {
			return err
		}
		bin := filepath.Join(out, "ossutil")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir, cmd.Stderr = dir, b.stderr
		// The module cache is read-only; -mod=mod lets the build resolve
		// ossutil's own requirements without writing its go.mod.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ossutil: %w", err)
		}
		b.ossutil = bin
	}
	if b.peers == "" {
		b.logf("building the SDK v2 child from %s", b.cfg.peersSrc)
		bin := filepath.Join(out, "peers")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir, cmd.Stderr = b.cfg.peersSrc, b.stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b.cfg.peersSrc, err)
		}
		b.peers = bin
	}
	return nil
}

// command is the child process for a: the bench binary itself for its own
// roles, the peers binary for the SDK v2, and ossutil for ossutil, whose
// credentials go in a config file (mode 0600 in a private directory, removed
// by cleanup) rather than on its command line, where ps would show them.
func (b *bench) command(ctx context.Context, e *env, a childArgs) (cmd *exec.Cmd, cleanup func(), err error) {
	switch a.Role {
	case roleV2:
		return exec.CommandContext(ctx, b.peers, a.Flags()...), func() {}, nil
	case roleUtil:
	default:
		return exec.CommandContext(ctx, b.exe, a.Flags()...), func() {}, nil
	}
	priv, err := os.MkdirTemp(b.cfg.work, "ossutil-")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { os.RemoveAll(priv) }
	id, secret, tok, _ := e.srv.IssueToken(bucketName, a.Key, a.TTL)
	conf := filepath.Join(priv, "config")
	body := "[Credentials]\nlanguage=EN\nendpoint=" + e.srv.URL() + "\naccessKeyID=" + id +
		"\naccessKeySecret=" + secret + "\nstsToken=" + tok + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		cleanup()
		return nil, nil, err
	}
	cp := a.StateDir
	if cp == "" {
		cp = filepath.Join(priv, "checkpoint")
	}
	args := []string{"cp", "-f", a.File, "oss://" + a.Bucket + "/" + a.Key, "-c", conf,
		"--checkpoint-dir", cp, "--output-dir", filepath.Join(priv, "output"),
		"--sign-version", "v4", "--region", region}
	if a.PartSize > 0 {
		// Equal settings: multipart from the first byte, as the others.
		args = append(args, "--bigfile-threshold", "0", "--part-size", strconv.FormatInt(a.PartSize, 10))
	}
	if a.Jobs > 0 {
		args = append(args, "--parallel", strconv.Itoa(a.Jobs))
	}
	return exec.CommandContext(ctx, b.ossutil, args...), cleanup, nil
}

// spans watches osstest's request log (debug level) and keeps, per object
// key, when its first request arrived, when its last one was answered and
// when the first part (or a whole PutObject) was confirmed. Timing at the
// server treats every contender alike: ossutil reports no timing of its own,
// and process start-up is left out for all.
type spans struct {
	mu    sync.Mutex
	m     map[string]*span
	since map[string]time.Time // requests that started before are a killed run's stragglers
}

type span struct {
	first, last, firstPart time.Time
	done                   int // requests answered
}

func newSpans() *spans { return &spans{m: map[string]*span{}, since: map[string]time.Time{}} }

// reset forgets key, before a run that reuses it (a resumed run).
func (s *spans) reset(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.since[key] = time.Now()
	s.mu.Unlock()
}

func (s *spans) get(key string) (span, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.m[key]
	if !ok {
		return span{}, false
	}
	return *sp, true
}

func (s *spans) Enabled(context.Context, slog.Level) bool { return true }
func (s *spans) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *spans) WithGroup(string) slog.Handler            { return s }

func (s *spans) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "oss request" {
		return nil
	}
	var op, key string
	var status int64
	var dur time.Duration
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "op":
			op = a.Value.String()
		case "key":
			key = a.Value.String()
		case "status":
			status = a.Value.Int64()
		case "duration":
			dur = a.Value.Duration()
		}
		return true
	})
	if key == "" {
		return nil
	}
	start := r.Time.Add(-dur)
	s.mu.Lock()
	defer s.mu.Unlock()
	if start.Before(s.since[key]) {
		return nil
	}
	sp := s.m[key]
	if sp == nil {
		sp = &span{first: start}
		s.m[key] = sp
	}
	if start.Before(sp.first) {
		sp.first = start
	}
	sp.done++
	if r.Time.After(sp.last) {
		sp.last = r.Time
	}
	if status == 200 && (op == "UploadPart" || op == "PutObject") && (sp.firstPart.IsZero() || r.Time.Before(sp.firstPart)) {
		sp.firstPart = r.Time
	}
	return nil
}

// watchHWM polls the peak resident set (VmHWM) of process pid from
// /proc/PID/status until stop is first called; stop (safe to call again)
// returns the largest value
// seen, in bytes (0 if none was read). The kernel's rusage cannot be used
// for this: Go starts children with vfork (CLONE_VM), and exec records the
// parent's high-water mark in the child's ru_maxrss, so every child of a
// parent that had grown to 51 MiB "peaked" at 51 MiB. VmHWM belongs to the
// child's own address space, made at exec. Being polled every 5 ms, it may
// miss growth in the child's last 5 ms.
func watchHWM(pid int) (stop func() int64) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	done := make(chan struct{})
	var peak atomic.Int64
	read := func() {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil && kb*1024 > peak.Load() {
					peak.Store(kb * 1024)
				}
				return
			}
		}
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() int64 {
		once.Do(func() { close(done) })
		<-exited
		return peak.Load()
	}
}
