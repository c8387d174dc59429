package ossupload

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// connectProxy is an HTTP proxy that serves CONNECT only, as corporate
// proxies in front of https do. It records each tunnel's target and
// Proxy-Authorization, and reaches every target at upstream, so that test
// host names (oss.example.test) need no resolver.
type connectProxy struct {
	upstream string
	mu       sync.Mutex
	targets  []string
	auths    []string
	wg       sync.WaitGroup
	conns    []net.Conn
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, r.Host)
	p.auths = append(p.auths, r.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	// Hijack first and answer by hand: the client may send its TLS hello
	// right behind the CONNECT, so bytes already buffered by the server
	// (brw.Reader) must reach the upstream first, not be dropped.
	down, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		up.Close()
		down.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up, down)
	p.mu.Unlock()
	pipe := func(dst net.Conn, src io.Reader, srcConn net.Conn) {
		defer p.wg.Done()
		io.Copy(dst, src)
		dst.Close()
		srcConn.Close()
	}
	p.wg.Add(2)
	go pipe(up, io.MultiReader(io.LimitReader(brw.Reader, int64(brw.Reader.Buffered())), down), down)
	go pipe(down, up, up)
}

func (p *connectProxy) close() {
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *connectProxy) seen() (targets, auths []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...), append([]string(nil), p.auths...)
}

// proxyVars are every variable http.ProxyFromEnvironment reads.
var proxyVars = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"}

// inChild reports whether this is the child process that runs the test's
// body. http.ProxyFromEnvironment reads the environment once per process,
// at its first use, as the ICE client does; so the parent runs the test
// again in a fresh process with no proxy variables but env, where the body
// may set more before the first request, and passes when the child passes.
func inChild(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv("REUPLOAD_TEST_PROXY_CHILD") == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(proxyVars, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "REUPLOAD_TEST_PROXY_CHILD="+t.Name()), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	return false
}

// The adapter's own client goes through HTTPS_PROXY as the ICE client
// (http.DefaultTransport) does: the part reaches OSS through a CONNECT
// tunnel, with the proxy's credentials, and OSS's CRC-64 of it comes back.
// The client may dial only loopback, so only the proxy can have carried
// the requests to oss.example.test; Go never proxies loopback, hence the
// name. Before, the client had no Proxy and dialled the name itself.
func TestAdapterHonoursHTTPSProxy(t *testing.T) {
	if !inChild(t) {
		return
	}
	s := ossServer(t, "proxy-bucket")
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	px := &connectProxy{upstream: ts.Listener.Addr().String()}
	pts := httptest.NewServer(px)
	defer func() { pts.Close(); px.close() }()

	pu, _ := url.Parse(pts.URL)
	pu.User = url.UserPassword("proxyuser", "proxypass")
	// Set before the process's first request, so ProxyFromEnvironment sees it.
	t.Setenv("HTTPS_PROXY", pu.String())
	t.Setenv("NO_PROXY", "localhost,.internal.example")

	hc := newHTTPClient(time.Second, 10*time.Second)
	tlsConf := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsConf.ServerName = "example.com" // the name httptest's certificate carries
	tr := hc.Transport.(*http.Transport)
	tr.TLSClientConfig = tlsConf
	// Only loopback is dialled (the proxy): a client that ignored the proxy
	// fails here, without asking a resolver about oss.example.test.
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
			return nil, fmt.Errorf("the test dials only loopback, not %s", addr)
		}
		return dial(ctx, network, addr)
	}

	id, secret, token, exp := s.IssueToken("proxy-bucket", "k", time.Hour)
	a, err := NewOSSAPI(Target{Endpoint: "https://oss.example.test", Bucket: "proxy-bucket", Key: "k", Region: "cn-shanghai"},
		StaticCredentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token, Expires: exp}, SDKConfig{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only a hang gets here
	defer cancel()
	upload, err := a.InitiateMultipartUpload(ctx, "k")
	if err != nil {
		t.Fatalf("InitiateMultipartUpload through the proxy: %v", err)
	}
	body := bytes.Repeat([]byte("through the proxy "), 50_000)
	out, err := a.UploadPart(ctx, PartInput{Key: "k", UploadID: upload, PartNumber: 1, Size: int64(len(body)), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	if want := crc64.Checksum(body, crc64.MakeTable(crc64.ECMA)); !out.HasCRC || out.CRC64 != want {
		t.Fatalf("part CRC %d (present %v), want %d", out.CRC64, out.HasCRC, want)
	}
	targets, auths := px.seen()
	if len(targets) == 0 {
		t.Fatal("the proxy saw no CONNECT")
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("proxyuser:proxypass"))
	for i := range targets {
		if targets[i] != "proxy-bucket.oss.example.test:443" || auths[i] != wantAuth {
			t.Errorf("tunnel %d: CONNECT %s with Proxy-Authorization %q, want proxy-bucket.oss.example.test:443 with the proxy's user", i, targets[i], auths[i])
		}
	}
}

// No proxy variables: every request goes direct.
func TestAdapterNoProxy(t *testing.T) {
	if !inChild(t) {
		return
	}
	if got := proxyFor(t, "https://bkt.oss-cn-shanghai.aliyuncs.com/k"); got != "direct" {
		t.Errorf("no proxy variables: %s, want direct", got)
	}
}

// NO_PROXY is honoured as net/http reads it, loopback is never proxied, and
// http:// endpoints take HTTP_PROXY.
func TestAdapterProxyRules(t *testing.T) {
	if !inChild(t, "HTTPS_PROXY=http://proxy.corp.example:3128", "NO_PROXY=oss-cn-beijing-internal.aliyuncs.com, .intranet.example",
		"HTTP_PROXY=http://plain.corp.example:8080") {
		return
	}
	for _, tc := range []struct{ url, want string }{
		{"https://bkt.oss-cn-shanghai.aliyuncs.com/k", "http://proxy.corp.example:3128"},
		{"https://bkt.oss-cn-beijing-internal.aliyuncs.com/k", "direct"}, // a NO_PROXY domain covers its subdomains
		{"https://oss.intranet.example/k", "direct"},
		{"http://oss.example.test/k", "http://plain.corp.example:8080"},
		{"http://127.0.0.1:9000/bkt/k", "direct"}, // the emulator: loopback is never proxied
		{"http://localhost:9000/bkt/k", "direct"},
		{"http://[::1]:9000/bkt/k", "direct"},
	} {
		if got := proxyFor(t, tc.url); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.url, got, tc.want)
		}
	}
}

// proxyFor is where the adapter's default client sends a request for rawURL.
func proxyFor(t *testing.T, rawURL string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := newHTTPClient(time.Second, time.Second).Transport.(*http.Transport)
	if tr.Proxy == nil {
		return "direct (no Proxy func)"
	}
	u, err := tr.Proxy(req)
	if err != nil {
		return "error: " + err.Error()
	}
	if u == nil {
		return "direct"
	}
	return u.String()
}
