package osstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Options configure a Server. The zero value is a working server on a random
// loopback port with in-memory storage.
type Options struct {
	Addr           string           // listen address; "" means 127.0.0.1:0
	Region         string           // "" means "cn-shanghai"; V4 signatures must use it
	Storage        Storage          // nil means NewMemoryStorage()
	Now            func() time.Time // nil means time.Now; used for token expiry and Date skew (15 min)
	Latency        time.Duration    // added before each response (0 = none)
	LatencyJitter  time.Duration    // uniform extra 0..jitter
	ConnBandwidth  int64            // bytes/s cap on each connection's request body reads (0 = unlimited)
	TotalBandwidth int64            // bytes/s cap across all connections (0 = unlimited)
	RejectV1       bool             // answer V1-signed requests with 403 AccessDenied (new buckets after 2025)
	Logger         *slog.Logger     // nil = discard; never logs secrets
}

// maxSkew is how far a request's Date may be from the server's clock.
const maxSkew = 15 * time.Minute

// Server is a fake OSS endpoint. All methods are safe for concurrent use.
type Server struct {
	region   string
	now      func() time.Time
	storage  Storage
	log      *slog.Logger
	latency  time.Duration
	jitter   time.Duration
	rejectV1 bool

	ln       net.Listener
	hs       *http.Server
	url      string
	hostport string // "127.0.0.1:PORT": requests to it are path-style
	connBW   int64
	total    *rate.Limiter

	mu      sync.RWMutex
	buckets map[string]bool
	uploads map[string]*upload // by upload ID
	creds   map[string]*credential

	selfKey, selfSecret string         // the server's own root key, for PresignGetURL
	keyMu               [64]sync.Mutex // serialises writers of one object key (forbid-overwrite checks, commits)

	uploadSeq atomic.Uint64
	partSeq   atomic.Uint64
	reqSeq    atomic.Uint64
	idPrefix  string // random per server: request and upload IDs never repeat across servers

	faultMu sync.Mutex
	faults  atomic.Pointer[[]*faultState]

	stats stats

	closing   chan struct{} // closed by Close: stalls and latency end at once
	closeOnce sync.Once
	activeMu  sync.Mutex
	closed    bool
	active    sync.WaitGroup
	serveDone chan struct{}
}

// NewServer starts a fake OSS server on opts.Addr, like httptest.NewServer.
func NewServer(opts Options) (*Server, error) {
	s := newServer(opts)
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("osstest: listen: %w", err)
	}
	s.ln = ln
	s.hostport = ln.Addr().String()
	s.url = "http://" + s.hostport
	s.hs = &http.Server{
		Handler:     s,
		ConnContext: s.connContext,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.serveDone)
		s.hs.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

func newServer(opts Options) *Server {
	s := &Server{
		region:    opts.Region,
		now:       opts.Now,
		storage:   opts.Storage,
		log:       opts.Logger,
		latency:   opts.Latency,
		jitter:    opts.LatencyJitter,
		rejectV1:  opts.RejectV1,
		connBW:    opts.ConnBandwidth,
		buckets:   map[string]bool{},
		uploads:   map[string]*upload{},
		creds:     map[string]*credential{},
		closing:   make(chan struct{}),
		serveDone: make(chan struct{}),
	}
	if s.region == "" {
		s.region = "cn-shanghai"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.storage == nil {
		s.storage = NewMemoryStorage()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.TotalBandwidth > 0 {
		s.total = newLimiter(opts.TotalBandwidth)
	}
	var p [4]byte
	rand.Read(p[:])
	s.idPrefix = strings.ToUpper(hex.EncodeToString(p[:]))
	s.selfKey, s.selfSecret = "LTAI"+randomString(20), randomString(30)
	s.creds[s.selfKey] = &credential{secret: s.selfSecret}
	s.stats.init()
	return s
}

// URL is the endpoint to give the SDK: "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.url }

// Close stops the server: it closes the listener and every connection, ends
// stalls and latency waits, and returns once every handler has returned.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.activeMu.Lock()
		s.closed = true
		s.activeMu.Unlock()
		if s.hs != nil {
			s.hs.Close() // connections first, so no stalled handler can still answer
			<-s.serveDone
		}
		close(s.closing)
		s.active.Wait()
	})
}

// CreateBucket makes an empty bucket; creating an existing one does nothing.
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	s.buckets[name] = true
	s.mu.Unlock()
}

func (s *Server) bucketExists(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.buckets[name]
}

// keyLock returns the mutex that serialises commits to bucket/key.
func (s *Server) keyLock(bucket, key string) *sync.Mutex {
	var h uint32 = 2166136261 // FNV-1a
	for i := 0; i < len(bucket); i++ {
		h = (h ^ uint32(bucket[i])) * 16777619
	}
	h = (h ^ '/') * 16777619
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &s.keyMu[h%uint32(len(s.keyMu))]
}

// newRequestID returns 24 upper-hex characters, unique within this process.
func (s *Server) newRequestID() string {
	var b [24]byte
	copy(b[:8], s.idPrefix)
	putHex(b[8:], s.reqSeq.Add(1))
	return string(b[:])
}

// putHex writes v as len(dst) upper-hex digits, most significant first.
func putHex(dst []byte, v uint64) {
	const digits = "0123456789ABCDEF"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v&0xF]
		v >>= 4
	}
}

// request is the state of one HTTP request while it is served.
type request struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	id      string
	op      op
	bucket  string
	key     string
	virtual bool // bucket came from the Host header
	query   url.Values
	status  int
	code    string
	badCRC  bool
	started time.Time
}

// ServeHTTP answers one OSS request. It is exported so the fake can also be
// mounted in another server; bandwidth caps per connection then do not apply.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.activeMu.Lock()
	if s.closed {
		s.activeMu.Unlock()
		w.Header().Set("Connection", "close")
		http.Error(w, "osstest: server closed", http.StatusServiceUnavailable)
		return
	}
	s.active.Add(1)
	s.activeMu.Unlock()
	defer s.active.Done()

	rq := &request{s: s, w: w, r: r, id: s.newRequestID(), started: time.Now()}
	h := w.Header()
	h.Set("Server", "AliyunOSS")
	h.Set("x-oss-request-id", rq.id)
	s.throttle(r)
	rq.route()
	s.stats.countRequest(rq.op)
	if rq.op == opUploadPart {
		r.Body = &countingBody{ReadCloser: r.Body, n: &s.stats.partBytes}
	}
	defer rq.logDone()

	if f := s.pickFault(rq.op); f != nil {
		if !rq.applyFault(f) {
			return
		}
	}
	if err := rq.serve(); err != nil {
		var oe *ossError
		if !errors.As(err, &oe) {
			s.log.Error("osstest: internal error", "op", rq.op.String(), "request_id", rq.id, "err", err)
			oe = newError("InternalError")
		}
		rq.drainBody()
		rq.respondError(oe)
	}
}

// drainBody reads what is left of the request body before an error answer.
// An answer that arrives while the SDK (v3.0.2) is still sending the body
// trips a data race in the SDK (its progress tracker is read by the caller
// while the transport's write loop updates it), which go test -race reports
// in the uploader's tests. Reading the body first also keeps the connection
// reusable, as net/http closes it when more than 256 KiB are left unread.
func (rq *request) drainBody() {
	if rq.r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(rq.r.Body, maxPartSize+1))
	}
}

func (rq *request) logDone() {
	if !rq.s.log.Enabled(rq.r.Context(), slog.LevelDebug) {
		return
	}
	rq.s.log.Debug("oss request", "op", rq.op.String(), "method", rq.r.Method, "bucket", rq.bucket, "key", rq.key,
		"status", rq.status, "code", rq.code, "request_id", rq.id, "duration", time.Since(rq.started))
}

// route finds the bucket, the key and the operation. Virtual-hosted requests
// name the bucket as the first label of Host (bkt.localhost,
// bkt.oss-cn-shanghai.aliyuncs.com); an IP, "localhost", the server's own
// host:port or an "oss-…" endpoint name means path-style (/bucket/key).
func (rq *request) route() {
	path := rq.r.URL.Path // decoded: the SDK escapes "/" in keys as %2F
	if b := rq.s.bucketFromHost(rq.r.Host); b != "" {
		rq.bucket, rq.virtual = b, true
		rq.key = strings.TrimPrefix(path, "/")
	} else {
		rq.bucket, rq.key, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	}
	rq.query = rq.r.URL.Query()
	rq.op = classify(rq.r.Method, rq.bucket, rq.key, rq.query, rq.r.Header)
}

func (s *Server) bucketFromHost(host string) string {
	if host == "" || strings.EqualFold(host, s.hostport) {
		return ""
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		return ""
	}
	label, _, ok := strings.Cut(h, ".")
	if !ok || strings.HasPrefix(label, "oss-") {
		return ""
	}
	return label
}

// hostID is the <HostId> of error answers: the Host the client used, as
// OSS's docs describe it ("与用户请求时使用的Host一致",
// https://help.aliyun.com/document_detail/32005.htm), with the bucket in
// front for a path-style request. A client that reached this server by IP or
// "localhost" would have reached OSS through its public endpoint, so that is
// the name given: bkt.oss-cn-shanghai.aliyuncs.com, not bkt.127.0.0.1.
func (rq *request) hostID() string {
	host := rq.r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	if rq.virtual {
		return host
	}
	if h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"); h == "" || net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		host = "oss-" + rq.s.region + ".aliyuncs.com"
	}
	if rq.bucket == "" {
		return host
	}
	return rq.bucket + "." + host
}

// respond sends the status line after the configured latency.
func (rq *request) respond(status int) {
	rq.status = status
	rq.s.delay(rq.r.Context())
	rq.w.WriteHeader(status)
}

func (s *Server) delay(ctx context.Context) {
	d := s.latency
	if s.jitter > 0 {
		d += time.Duration(mrand.Int64N(int64(s.jitter) + 1))
	}
	if d > 0 {
		s.wait(ctx, d)
	}
}

// wait sleeps for d and reports whether it ran to the end (false when the
// client went away or the server is closing).
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// serve runs the operation: bucket check, authentication, then the handler.
func (rq *request) serve() error {
	if rq.bucket == "" { // service level: ListBuckets and friends
		if err := rq.authenticate(); err != nil {
			return err
		}
		return newErrorMsg("NotImplemented", "osstest does not implement service-level operations.")
	}
	if !rq.s.bucketExists(rq.bucket) {
		return newError("NoSuchBucket").with("BucketName", rq.bucket)
	}
	if err := rq.authenticate(); err != nil {
		return err
	}
	switch rq.op {
	case opInitiate:
		return rq.initiateMultipartUpload()
	case opUploadPart:
		return rq.uploadPart()
	case opComplete:
		return rq.completeMultipartUpload()
	case opAbort:
		return rq.abortMultipartUpload()
	case opListParts:
		return rq.listParts()
	case opListUploads:
		return rq.listMultipartUploads()
	case opPutObject:
		return rq.putObject()
	case opGetObject:
		return rq.getObject()
	case opHeadObject, opGetObjectMeta:
		return rq.headObject()
	case opDeleteObject:
		return rq.deleteObject()
	case opNotImplemented:
		return newErrorMsg("NotImplemented", "osstest does not implement this operation.")
	}
	return newError("MethodNotAllowed")
}

// writeXML sends a 200 answer with an XML body.
func (rq *request) writeXML(body []byte) {
	h := rq.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rq.respond(http.StatusOK)
	rq.w.Write(body)
}

// readBody reads a small request body (Complete's XML), at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, newErrorMsg("InvalidArgument", "The request body is too large.")
	}
	return b, nil
}

// countingBody adds every byte read to n (Stats.PartBytesReceived).
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
	}
	return n, err
}
