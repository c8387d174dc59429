// Package proto is what the bench's parent process and its client children
// say to each other: the flags a child gets, the STS token issuer it asks,
// and the one JSON line it prints. The bench binary and the peers binary
// (bench/peers, a module of its own so the SDK v2 stays out of reupload's
// go.mod) both play children with it.
package proto

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// Region is the osstest default; every V4 signer uses it.
const Region = "cn-shanghai"

// Args is what the parent tells a child to do.
type Args struct {
	Role       string
	Issuer     string        // token issuer URL (parent process)
	Endpoint   string        // osstest URL
	Bucket     string        // bucket name
	Key        string        // object key; the STS token is scoped to it
	File       string        // source file
	Size       int64         // object size (raw: no file)
	PartSize   int64         // 0: the client's default
	Jobs       int           // parallel parts; 0: the client's default
	TTL        time.Duration // STS lifetime of each token issued
	StateDir   string        // checkpoint directory; "" for none (engine) / a temp dir (SDKs)
	CPUProfile string        // write a CPU profile here
	Events     bool          // engine: print events (kind, part, OSS code; never credentials) to stderr
}

// Flags is a as a child's command line.
func (a Args) Flags() []string {
	return []string{
		"-role", a.Role, "-issuer", a.Issuer, "-endpoint", a.Endpoint, "-bucket", a.Bucket, "-key", a.Key,
		"-file", a.File, "-size", strconv.FormatInt(a.Size, 10), "-part", strconv.FormatInt(a.PartSize, 10),
		"-j", strconv.Itoa(a.Jobs), "-ttl", a.TTL.String(), "-state", a.StateDir, "-cpuprofile", a.CPUProfile,
		"-events=" + strconv.FormatBool(a.Events),
	}
}

// Register defines the child flags on fs.
func (a *Args) Register(fs *flag.FlagSet) {
	fs.StringVar(&a.Role, "role", "", "internal: run one client and print a JSON report")
	fs.StringVar(&a.Issuer, "issuer", "", "internal: token issuer URL")
	fs.StringVar(&a.Endpoint, "endpoint", "", "internal: OSS endpoint")
	fs.StringVar(&a.Bucket, "bucket", "", "internal: bucket")
	fs.StringVar(&a.Key, "key", "", "internal: object key")
	fs.StringVar(&a.File, "file", "", "internal: source file")
	fs.Int64Var(&a.Size, "size", 0, "internal: object size")
	fs.Int64Var(&a.PartSize, "part", 0, "internal: part size (0 = the client's default)")
	fs.IntVar(&a.Jobs, "j", 0, "internal: parallel parts (0 = the client's default)")
	fs.DurationVar(&a.TTL, "ttl", time.Hour, "internal: STS token lifetime")
	fs.StringVar(&a.StateDir, "state", "", "internal: checkpoint directory")
	fs.StringVar(&a.CPUProfile, "cpuprofile", "", "internal: CPU profile path")
	fs.BoolVar(&a.Events, "events", false, "engine children print their events (refreshes, retries) to stderr")
}

// Report is the one JSON line a child prints on stdout.
type Report struct {
	Seconds     float64 `json:"seconds"`      // the upload alone, from the child's clock
	BytesSent   int64   `json:"bytes_sent"`   // engine: part bytes sent by this run
	Refreshes   int     `json:"refreshes"`    // engine: credentials fetched after the first
	Retries     int     `json:"retries"`      // engine
	PartsReused int     `json:"parts_reused"` // engine: parts a previous run left on OSS
	Mallocs     uint64  `json:"mallocs"`      // runtime.MemStats.Mallocs at the end
	TotalAlloc  uint64  `json:"total_alloc"`  // bytes
	Err         string  `json:"err,omitempty"`
}

// Token is what the issuer hands out. Its JSON travels only over loopback
// between the parent and its children and is never printed.
type Token struct {
	AccessKeyID     string    `json:"ak"`
	AccessKeySecret string    `json:"sk"`
	SecurityToken   string    `json:"token"`
	Expires         time.Time `json:"expires"`
}

// FetchToken asks the parent's issuer for a fresh STS token scoped to key.
func FetchToken(ctx context.Context, issuer, key string, ttl time.Duration) (Token, error) {
	u := issuer + "?key=" + url.QueryEscape(key) + "&ttl=" + url.QueryEscape(ttl.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Token{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("token issuer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Token{}, fmt.Errorf("token issuer: HTTP %d", resp.StatusCode)
	}
	var t Token
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return Token{}, fmt.Errorf("token issuer: %w", err)
	}
	return t, nil
}

// Run plays one child: it starts the CPU profile a.CPUProfile names, calls
// upload, and prints the report with the process's Go allocation counters.
// The exit code is 0 even when the upload fails: the report's Err says why,
// and the parent decides.
func Run(a Args, stdout, stderr io.Writer, upload func(context.Context, Args) (Report, error)) int {
	if a.CPUProfile != "" {
		f, err := os.Create(a.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench child:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench child:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := upload(context.Background(), a)
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
