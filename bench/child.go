//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/resume"
)

// Roles a child process can play.
const (
	roleEngine = "engine" // ossupload.Upload
	roleSDK    = "sdk"    // oss.Bucket.UploadFile with Routines and Checkpoint
	roleRaw    = "raw"    // bare parallel PUT loop over pre-signed requests
)

// region is the osstest default; the engine and the SDK both sign V4 with it.
const region = "cn-shanghai"

// childArgs is what the parent tells a child to do.
type childArgs struct {
	Role       string
	Issuer     string        // token issuer URL (parent process)
	Endpoint   string        // osstest URL
	Bucket     string        // bucket name
	Key        string        // object key; the STS token is scoped to it
	File       string        // source file (engine, sdk)
	Size       int64         // object size (raw: no file)
	PartSize   int64         // 0: engine auto
	Jobs       int           // parallel parts; 0: engine default
	TTL        time.Duration // STS lifetime of each token issued
	StateDir   string        // engine: resume.Store dir; sdk: checkpoint dir; "" for none (engine) / a temp dir (sdk)
	CPUProfile string        // write a CPU profile here
	Events     bool          // engine: print events (kind, part, OSS code; never credentials) to stderr
}

func (a childArgs) flags() []string {
	return []string{
		"-role", a.Role, "-issuer", a.Issuer, "-endpoint", a.Endpoint, "-bucket", a.Bucket, "-key", a.Key,
		"-file", a.File, "-size", strconv.FormatInt(a.Size, 10), "-part", strconv.FormatInt(a.PartSize, 10),
		"-j", strconv.Itoa(a.Jobs), "-ttl", a.TTL.String(), "-state", a.StateDir, "-cpuprofile", a.CPUProfile,
		"-events=" + strconv.FormatBool(a.Events),
	}
}

func (a *childArgs) register(fs *flag.FlagSet) {
	fs.StringVar(&a.Role, "role", "", "internal: run one client (engine, sdk, raw) and print a JSON report")
	fs.StringVar(&a.Issuer, "issuer", "", "internal: token issuer URL")
	fs.StringVar(&a.Endpoint, "endpoint", "", "internal: OSS endpoint")
	fs.StringVar(&a.Bucket, "bucket", "", "internal: bucket")
	fs.StringVar(&a.Key, "key", "", "internal: object key")
	fs.StringVar(&a.File, "file", "", "internal: source file")
	fs.Int64Var(&a.Size, "size", 0, "internal: object size")
	fs.Int64Var(&a.PartSize, "part", 0, "internal: part size (0 = auto)")
	fs.IntVar(&a.Jobs, "j", 0, "internal: parallel parts (0 = default)")
	fs.DurationVar(&a.TTL, "ttl", time.Hour, "internal: STS token lifetime")
	fs.StringVar(&a.StateDir, "state", "", "internal: checkpoint directory")
	fs.StringVar(&a.CPUProfile, "cpuprofile", "", "internal: CPU profile path")
	fs.BoolVar(&a.Events, "events", false, "engine children print their events (refreshes, retries) to stderr")
}

// childReport is the one JSON line a child prints on stdout.
type childReport struct {
	Seconds     float64 `json:"seconds"`      // the upload alone, from the child's clock
	BytesSent   int64   `json:"bytes_sent"`   // engine: part bytes sent by this run
	Refreshes   int     `json:"refreshes"`    // engine: credentials fetched after the first
	Retries     int     `json:"retries"`      // engine
	PartsReused int     `json:"parts_reused"` // engine: parts a previous run left on OSS
	Mallocs     uint64  `json:"mallocs"`      // runtime.MemStats.Mallocs at the end
	TotalAlloc  uint64  `json:"total_alloc"`  // bytes
	Err         string  `json:"err,omitempty"`
}

// token is what the issuer hands out. Its JSON travels only over loopback
// between the parent and its children and is never printed.
type token struct {
	AccessKeyID     string    `json:"ak"`
	AccessKeySecret string    `json:"sk"`
	SecurityToken   string    `json:"token"`
	Expires         time.Time `json:"expires"`
}

func fetchToken(ctx context.Context, issuer, key string, ttl time.Duration) (token, error) {
	u := issuer + "?key=" + url.QueryEscape(key) + "&ttl=" + url.QueryEscape(ttl.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return token{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("token issuer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return token{}, fmt.Errorf("token issuer: HTTP %d", resp.StatusCode)
	}
	var t token
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return token{}, fmt.Errorf("token issuer: %w", err)
	}
	return t, nil
}

// runChild plays one role and prints its report. The exit code is 0 even when
// the upload fails: the report's Err says why, and the parent decides.
func runChild(a childArgs, stdout io.Writer) int {
	if a.CPUProfile != "" {
		f, err := os.Create(a.CPUProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	var rep childReport
	var err error
	switch a.Role {
	case roleEngine:
		rep, err = runEngine(ctx, a)
	case roleSDK:
		rep, err = runSDK(ctx, a)
	case roleRaw:
		rep, err = runRaw(ctx, a)
	default:
		err = fmt.Errorf("unknown role %q", a.Role)
	}
	if err != nil {
		rep.Err = err.Error()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.Mallocs, rep.TotalAlloc = ms.Mallocs, ms.TotalAlloc
	if err := json.NewEncoder(stdout).Encode(rep); err != nil {
		return 1
	}
	return 0
}

func runEngine(ctx context.Context, a childArgs) (childReport, error) {
	f, err := os.Open(a.File)
	if err != nil {
		return childReport{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return childReport{}, err
	}
	src := ossupload.Source{R: f, Size: fi.Size()}
	opts := ossupload.Options{PartSize: a.PartSize, Concurrency: a.Jobs, MediaID: "bench-" + a.Key}
	if a.StateDir != "" {
		st, err := resume.Open(a.StateDir)
		if err != nil {
			return childReport{}, err
		}
		h, err := st.Lock(opts.MediaID)
		if err != nil {
			return childReport{}, err
		}
		defer h.Close()
		opts.State = h
		if src.Fingerprint, err = resume.FingerprintFile(a.File); err != nil {
			return childReport{}, err
		}
	}
	// Every call issues a fresh STS token, as RefreshUploadMedia would; the
	// first is fetched before the clock starts, as the other contenders'
	// only token is.
	first, err := fetchToken(ctx, a.Issuer, a.Key, a.TTL)
	if err != nil {
		return childReport{}, err
	}
	var calls atomic.Int64
	auth := ossupload.AuthorizerFunc(func(ctx context.Context) (ossupload.Grant, error) {
		t := first
		if calls.Add(1) > 1 {
			var err error
			if t, err = fetchToken(ctx, a.Issuer, a.Key, a.TTL); err != nil {
				return ossupload.Grant{}, err
			}
		}
		return ossupload.Grant{
			Target: ossupload.Target{Endpoint: a.Endpoint, Bucket: a.Bucket, Key: a.Key, Region: region},
			Credentials: ossupload.Credentials{AccessKeyID: t.AccessKeyID, AccessKeySecret: t.AccessKeySecret,
				SecurityToken: t.SecurityToken, Expires: t.Expires},
		}, nil
	})
	start := time.Now()
	if a.Events {
		opts.OnEvent = func(e ossupload.Event) {
			if e.Kind == ossupload.EventPartDone {
				return
			}
			code := ""
			var se oss.ServiceError
			if errors.As(e.Err, &se) {
				code = se.Code
			} else if e.Err != nil {
				code = fmt.Sprintf("%T", e.Err) // messages may quote request headers
			}
			fmt.Fprintf(os.Stderr, "event %6dms %s part=%d attempt=%d delay=%v %s\n",
				time.Since(start).Milliseconds(), e.Kind, e.PartNumber, e.Attempt, e.Delay.Round(time.Millisecond), code)
		}
	}
	res, err := ossupload.Upload(ctx, auth, src, opts)
	rep := childReport{Seconds: time.Since(start).Seconds()}
	if err != nil {
		return rep, err
	}
	rep.BytesSent, rep.Refreshes, rep.Retries, rep.PartsReused = res.BytesSent, res.Refreshes, res.Retries, res.PartsReused
	return rep, nil
}

func runSDK(ctx context.Context, a childArgs) (childReport, error) {
	t, err := fetchToken(ctx, a.Issuer, a.Key, a.TTL)
	if err != nil {
		return childReport{}, err
	}
	client, err := oss.New(a.Endpoint, t.AccessKeyID, t.AccessKeySecret,
		oss.SecurityToken(t.SecurityToken), oss.AuthVersion(oss.AuthV4), oss.Region(region))
	if err != nil {
		return childReport{}, err
	}
	b, err := client.Bucket(a.Bucket)
	if err != nil {
		return childReport{}, err
	}
	dir := a.StateDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-sdk-cp-"); err != nil {
			return childReport{}, err
		}
		defer os.RemoveAll(dir)
	}
	cp := filepath.Join(dir, "sdk-"+a.Key+".cp")
	start := time.Now()
	err = b.UploadFile(a.Key, a.File, a.PartSize, oss.Routines(a.Jobs), oss.Checkpoint(true, cp))
	return childReport{Seconds: time.Since(start).Seconds()}, err
}

// errUsage is returned when the parent passes nonsense to a child.
var errUsage = errors.New("bench child: bad arguments")
