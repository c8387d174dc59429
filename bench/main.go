//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/reupload/reupload/ossupload/osstest"
)

const (
	mib        = 1 << 20
	gib        = 1 << 30
	bucketName = "bench"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// config is the parent's view of the flags.
type config struct {
	quick   bool
	out     string
	work    string
	reps    int
	profile bool
	render  string
	events  bool
	cases   string
	// peersSrc is the nested module with the SDK v2 child (bench/peers).
	peersSrc string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ca childArgs
	ca.Register(fs)
	var cfg config
	fs.BoolVar(&cfg.quick, "quick", false, "a small subset (64 MiB at j=4, a short WAN case), under a minute")
	fs.StringVar(&cfg.out, "out", "bench/RESULTS.md", "where to write the report")
	fs.StringVar(&cfg.work, "work", "bench/out", "scratch directory: source files (sparse above 1 GiB), checkpoints, profiles")
	fs.IntVar(&cfg.reps, "reps", 0, "runs per case, median reported; 0 means 11 for files up to 64 MiB, 5 up to 1 GiB and 3 above")
	fs.BoolVar(&cfg.profile, "profile", true, "CPU-profile one engine and one SDK run and put the top functions in the report")
	fs.StringVar(&cfg.cases, "cases", defaultCases, "which parts to run (comma-separated); the report leaves the others empty")
	fs.StringVar(&cfg.peersSrc, "peers", "bench/peers", "the SDK v2 child's module, built to -work/peers")
	fs.StringVar(&cfg.render, "render", "", "only re-render the report from this results.json (saved by every run in -work)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if ca.Role != "" {
		return runChild(ca, stdout)
	}
	cfg.events = ca.Events
	var rep []byte
	var err error
	if cfg.render != "" {
		rep, err = render(cfg.render, cfg.out)
	} else {
		rep, err = measure(cfg, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if err := os.WriteFile(cfg.out, rep, 0o644); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	fmt.Fprintln(stderr, "bench: wrote", cfg.out)
	return 0
}

func measure(cfg config, stderr io.Writer) ([]byte, error) {
	b, err := newBench(cfg, stderr)
	if err != nil {
		return nil, err
	}
	defer b.close()
	return b.all(context.Background())
}

// env is one osstest server and the STS issuer for its bucket.
type env struct {
	name   string
	srv    *osstest.Server
	hs     *http.Server
	issuer string
}

func newEnv(name string, o osstest.Options, sp *spans) (*env, error) {
	o.Storage = osstest.NewDiscardStorage()
	o.Logger = slog.New(sp)
	srv, err := osstest.NewServer(o)
	if err != nil {
		return nil, err
	}
	srv.CreateBucket(bucketName)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	// The issuer plays RefreshUploadMedia: a fresh STS token for one object
	// on every call.
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ttl, err := time.ParseDuration(r.URL.Query().Get("ttl"))
		key := r.URL.Query().Get("key")
		if err != nil || ttl <= 0 || key == "" {
			http.Error(w, "want key and ttl", http.StatusBadRequest)
			return
		}
		var t token
		t.AccessKeyID, t.AccessKeySecret, t.SecurityToken, t.Expires = srv.IssueToken(bucketName, key, ttl)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(t)
	}), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return &env{name: name, srv: srv, hs: hs, issuer: "http://" + ln.Addr().String() + "/token"}, nil
}

func (e *env) close() {
	e.hs.Close()
	e.srv.Close()
}

type bench struct {
	cfg    config
	exe    string
	stderr io.Writer
	lan    *env
	wan    *env
	slow   *env // 2 MiB/s across all connections
	seq    int
	files  map[int64]string
	spans  *spans
	// Built by buildPeers: ossutil and the SDK v2 child.
	ossutil, peers string
}

func newBench(cfg config, stderr io.Writer) (*bench, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.work, 0o755); err != nil {
		return nil, err
	}
	if cfg.peersSrc, err = filepath.Abs(cfg.peersSrc); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, exe: exe, stderr: stderr, files: map[int64]string{}, spans: newSpans()}
	if b.lan, err = newEnv("loopback", osstest.Options{}, b.spans); err != nil {
		return nil, err
	}
	b.wan, err = newEnv("wan", osstest.Options{
		Latency: 30 * time.Millisecond, LatencyJitter: 50 * time.Millisecond, ConnBandwidth: wanConnBandwidth,
	}, b.spans)
	if err != nil {
		b.lan.close()
		return nil, err
	}
	if b.slow, err = newEnv("slow", osstest.Options{TotalBandwidth: slowBandwidth}, b.spans); err != nil {
		b.lan.close()
		b.wan.close()
		return nil, err
	}
	return b, nil
}

// wanConnBandwidth is the WAN profile's per-connection cap.
const wanConnBandwidth = 8 * mib

// slowBandwidth is the slow link's cap across all connections.
const slowBandwidth = 2 * mib

func (b *bench) close() {
	b.lan.close()
	b.wan.close()
	b.slow.close()
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

// file returns a source file of size bytes, creating it once. Files up to
// 1 GiB hold random bytes; larger ones are sparse (a few random blocks in a
// hole), so no disk space is needed and reads cost no disk I/O.
func (b *bench) file(size int64) (string, error) {
	if p, ok := b.files[size]; ok {
		return p, nil
	}
	p := filepath.Join(b.cfg.work, fmt.Sprintf("src-%dMiB.bin", size/mib))
	if fi, err := os.Stat(p); err == nil && fi.Size() == size {
		b.files[size] = p
		return p, warm(p)
	}
	b.logf("creating %s", p)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	if size <= gib {
		_, err = io.CopyN(f, rng, size)
	} else {
		err = f.Truncate(size)
		block := make([]byte, mib)
		rng.Read(block)
		for _, off := range []int64{0, size / 3, size / 2, size - mib} {
			if err == nil {
				_, err = f.WriteAt(block, off)
			}
		}
	}
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(p)
		return "", err
	}
	b.files[size] = p
	return p, warm(p)
}

// warm reads a file once so that every contender finds it in the page
// cache. Without it, the first to read a large sparse file pays for the
// kernel filling the cache with zero pages: the 8 GiB j=1 rows had the
// engine (run first) at half the SDK's speed and the order reversed showed
// the same penalty on the SDK.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// measured is one child run as the parent saw it.
type measured struct {
	childReport
	Wall     float64        // child process lifetime, seconds
	MaxRSS   int64          // bytes, the child's VmHWM (watchHWM)
	CPU      float64        // utime + stime, seconds
	Received int64          // UploadPart body bytes the server read during the run
	Errors   map[string]int // OSS error codes the server answered during the run
	Killed   bool
	// Seconds (childReport) is replaced by the server's view when it has
	// one: first request for the key to the last answer. ChildSeconds keeps
	// what the child measured (0 for ossutil, which reports nothing).
	ChildSeconds float64
	FirstPart    float64        // seconds from process start to the first part (or PutObject) confirmed; 0 if none
	Requests     map[string]int // requests the server counted during the run, by operation
}

// killer says when to kill a child with SIGKILL, from the part bytes the
// server has received from it and the time since it started.
type killer func(received int64, elapsed time.Duration) bool

// atBytes kills once the server has n part bytes.
func atBytes(n int64) killer { return func(r int64, _ time.Duration) bool { return r >= n } }

// after kills at d.
func after(d time.Duration) killer { return func(_ int64, e time.Duration) bool { return e >= d } }

// spawn runs one child against e. With kill set, the child is killed with
// SIGKILL once kill says so.
func (b *bench) spawn(ctx context.Context, e *env, a childArgs, kill killer) (measured, error) {
	b.seq++
	if a.Key == "" {
		a.Key = fmt.Sprintf("obj-%04d", b.seq)
	}
	a.Issuer, a.Endpoint, a.Bucket, a.Events = e.issuer, e.srv.URL(), bucketName, b.cfg.events
	if a.TTL == 0 {
		a.TTL = time.Hour
	}
	cmd, cleanup, err := b.command(ctx, e, a)
	if err != nil {
		return measured{}, err
	}
	defer cleanup()
	b.spans.reset(a.Key)
	before := e.srv.Stats()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, b.stderr
	if a.Role == roleUtil {
		cmd.Stdout = io.Discard // its progress lines; it prints no report
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{}, err
	}
	var m measured
	hwm := watchHWM(cmd.Process.Pid)
	defer hwm()
	if kill != nil {
		done, exited := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(exited)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if kill(e.srv.Stats().PartBytesReceived-before.PartBytesReceived, time.Since(start)) {
						cmd.Process.Kill()
						m.Killed = true
						return
					}
				}
			}
		}()
		werr := cmd.Wait() // a killed child's error is expected; others show in its report
		close(done)
		<-exited
		if werr != nil && !m.Killed {
			return measured{}, fmt.Errorf("child %s: %w", a.Role, werr)
		}
	} else if err := cmd.Wait(); err != nil {
		return measured{}, fmt.Errorf("child %s: %w", a.Role, err)
	}
	m.Wall = time.Since(start).Seconds()
	m.MaxRSS = hwm()
	after := e.srv.Stats()
	m.Received = after.PartBytesReceived - before.PartBytesReceived
	m.Requests = map[string]int{}
	for k, v := range after.Requests {
		if d := v - before.Requests[k]; d > 0 {
			m.Requests[k] = d
		}
	}
	m.Errors = map[string]int{}
	for k, v := range after.Errors {
		if d := v - before.Errors[k]; d > 0 {
			m.Errors[k] = d
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.CPU = tvSeconds(ru.Utime) + tvSeconds(ru.Stime) // Maxrss is not the child's own: see watchHWM
	}
	if line := bytes.TrimSpace(out.Bytes()); len(line) > 0 {
		if err := json.Unmarshal(line, &m.childReport); err != nil {
			return m, fmt.Errorf("child %s: bad report %q: %w", a.Role, line, err)
		}
	}
	m.ChildSeconds = m.Seconds
	if sp, ok := b.spans.get(a.Key); ok {
		m.Seconds = sp.last.Sub(sp.first).Seconds()
		if !sp.firstPart.IsZero() {
			m.FirstPart = sp.firstPart.Sub(start).Seconds()
		}
	}
	if m.Err != "" && !m.Killed {
		return m, fmt.Errorf("child %s: %s", a.Role, m.Err)
	}
	return m, nil
}

// jsonField returns the string field name of a JSON object.
func jsonField(b []byte, name string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	v, _ := m[name].(string)
	if v == "" {
		return "", fmt.Errorf("no %s in %.200s", name, b)
	}
	return v, nil
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// median returns the run with the median upload time.
func median(ms []measured) measured {
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b measured) int {
		switch {
		case a.Seconds < b.Seconds:
			return -1
		case a.Seconds > b.Seconds:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func sortedKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }
