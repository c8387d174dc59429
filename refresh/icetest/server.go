package icetest

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// APIVersion is the only ICE API version the fake serves.
const APIVersion = "2020-11-09"

// Window is how far x-acs-date may be from the server clock, and how long a
// signature nonce is remembered.
const Window = 15 * time.Minute

// DefaultSTSTTL is the lifetime of issued upload credentials when
// Options.STSTTL is zero: ICE documents 3000 s for video.
const DefaultSTSTTL = 3000 * time.Second

// TokenIssuer mints STS credentials that the object store will accept for
// one object. osstest.Server implements it.
type TokenIssuer interface {
	IssueToken(bucket, object string, ttl time.Duration) (accessKeyID, accessKeySecret, securityToken string, expires time.Time)
}

// ObjectStat is what the fake asks the object store about a media's source.
type ObjectStat struct {
	Size         int64
	LastModified time.Time
}

// ObjectStore tells the fake the current state of a media's source object,
// so that GetMediaInfo reports the real size and notices overwrites. The
// emulator adapts osstest.Server.Object to it.
type ObjectStore interface {
	StatObject(bucket, key string) (ObjectStat, bool)
}

// Presigner signs a GET URL for an object that works until expires, the
// way GetMediaInfo's FileUrl does on the real service. osstest.Server
// implements it (PresignGetURL, an OSS V1 presigned URL).
type Presigner interface {
	PresignGetURL(bucket, key string, expires time.Time) string
}

// Options configure a Server. Every zero value is usable except Issuer.
type Options struct {
	Addr        string           // listen address; "" means 127.0.0.1:0
	Region      string           // "" means "cn-shanghai"; goes into UploadAuth.Region and FileInfo.Region
	OSSEndpoint string           // UploadAddress.Endpoint, e.g. "http://127.0.0.1:4567"; "" means https://oss-<Region>.aliyuncs.com
	Issuer      TokenIssuer      // required: mints the STS triple inside UploadAuth
	STSTTL      time.Duration    // lifetime of issued STS credentials; 0 means DefaultSTSTTL
	QPS         float64          // per-AccessKey request rate above which calls get Throttling.User; 0 means unlimited
	Now         func() time.Time // server clock for x-acs-date skew, nonces, STS expiry, throttling and MediaLag; nil means time.Now
	Logger      *slog.Logger     // request log (never secrets); nil discards

	// Store reports a media's source object. nil: GetMediaInfo reports
	// FileSize 0 and never sees an overwrite.
	Store ObjectStore
	// Presigner signs FileUrl. nil: FileUrl is the unsigned object URL.
	Presigner Presigner
	// MediaLag is how long after an overwrite of a media's object (its
	// LastModified, as Store reports it) GetMediaInfo keeps reporting the
	// old FileSize and ModifiedTime with Status Uploading, as ICE does while
	// it analyses the new file. 0 means the new file shows at once.
	MediaLag time.Duration
}

// Media is an asset the fake knows. ID must be well formed (see MediaID).
// The fake does not analyse sources: Duration (seconds), Width and Height
// are reported as given (0: empty), and Bitrate follows from the source's
// size and Duration.
type Media struct {
	ID, Bucket, Object string
	Title, Description string
	CoverURL           string
	Duration           float64
	Width, Height      int
}

// MediaID derives a well-formed, deterministic MediaId (32 lowercase hex
// digits) from any name, for tests that want readable seeds.
func MediaID(name string) string {
	sum := md5.Sum([]byte(name))
	return hex.EncodeToString(sum[:])
}

// ValidMediaID reports whether id is well formed for this fake: exactly 32
// ASCII letters or digits.
func ValidMediaID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

type accessKey struct {
	secret  string
	actions map[string]bool // nil: every action allowed
	deny    map[string]bool // actions refused with Forbidden.RAM even if allowed
	token   string          // "" for a permanent AccessKey
	expires time.Time       // STS only
}

type mediaRecord struct {
	Media
	created, modified time.Time
	file              ObjectStat // the source as GetMediaInfo reports it
	uploading         bool       // the object changed and MediaLag has not passed yet
}

type nonceEntry struct {
	key string
	at  time.Time
}

// Server is a running fake ICE endpoint. It is safe for concurrent use.
type Server struct {
	opts Options
	ts   *httptest.Server
	log  *slog.Logger

	mu    sync.Mutex
	keys  map[string]*accessKey
	media map[string]*mediaRecord
	calls map[string]int
	// uploadAuths are the raw UploadAuth blobs handed out, for leak tests.
	uploadAuths []string
	faults      []*faultState
	nonces      map[string]time.Time
	nonceQ      []nonceEntry
	limiters    map[string]*rate.Limiter
}

// NewServer starts a fake ICE endpoint listening at once on opts.Addr.
func NewServer(opts Options) (*Server, error) {
	if opts.Issuer == nil {
		return nil, errors.New("icetest: Options.Issuer is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Region == "" {
		opts.Region = "cn-shanghai"
	}
	if opts.OSSEndpoint == "" {
		opts.OSSEndpoint = "https://oss-" + opts.Region + ".aliyuncs.com"
	}
	if opts.STSTTL == 0 {
		opts.STSTTL = DefaultSTSTTL
	}
	if opts.MediaLag < 0 {
		return nil, fmt.Errorf("icetest: MediaLag %v is negative", opts.MediaLag)
	}
	if opts.STSTTL < time.Second {
		return nil, fmt.Errorf("icetest: STSTTL %v is under a second", opts.STSTTL)
	}
	if opts.QPS < 0 || math.IsNaN(opts.QPS) {
		return nil, fmt.Errorf("icetest: QPS %v is negative", opts.QPS)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("icetest: listen: %w", err)
	}
	s := &Server{
		opts:     opts,
		log:      log,
		keys:     map[string]*accessKey{},
		media:    map[string]*mediaRecord{},
		calls:    map[string]int{},
		nonces:   map[string]time.Time{},
		limiters: map[string]*rate.Limiter{},
	}
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Listener.Close()
	s.ts.Listener = ln
	s.ts.Start()
	return s, nil
}

// URL is the base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.ts.URL }

// Endpoint is "127.0.0.1:PORT", the value for the SDK's Config.Endpoint.
func (s *Server) Endpoint() string { return strings.TrimPrefix(s.ts.URL, "http://") }

// Close stops the server and blocks until outstanding requests finish.
func (s *Server) Close() { s.ts.Close() }

// AddAccessKey registers caller credentials. With no actions every action
// is allowed; otherwise calls to other actions get 403 Forbidden.RAM.
// Actions may be given as "RefreshUploadMedia" or "ice:RefreshUploadMedia".
func (s *Server) AddAccessKey(id, secret string, actions ...string) {
	k := &accessKey{secret: secret}
	if len(actions) > 0 {
		k.actions = map[string]bool{}
		for _, a := range actions {
			k.actions[strings.TrimPrefix(a, "ice:")] = true
		}
	}
	s.mu.Lock()
	s.keys[id] = k
	s.mu.Unlock()
}

// AddAccessKeyDeny registers caller credentials that may call every action
// except deny, which get 403 Forbidden.RAM, as a RAM user whose policy
// lacks those actions does. Actions may carry the "ice:" prefix.
func (s *Server) AddAccessKeyDeny(id, secret string, deny ...string) {
	k := &accessKey{secret: secret, deny: map[string]bool{}}
	for _, a := range deny {
		k.deny[strings.TrimPrefix(a, "ice:")] = true
	}
	s.mu.Lock()
	s.keys[id] = k
	s.mu.Unlock()
}

// AddSTS registers caller STS credentials: requests must carry token in
// x-acs-security-token and are refused with InvalidSecurityToken.Expired
// once the server clock passes expires.
func (s *Server) AddSTS(id, secret, token string, expires time.Time) {
	s.mu.Lock()
	s.keys[id] = &accessKey{secret: secret, token: token, expires: expires}
	s.mu.Unlock()
}

// AddMedia registers (or replaces) a media asset. Its source is whatever
// the ObjectStore holds at m.Bucket/m.Object now; it shows at once.
func (s *Server) AddMedia(m Media) {
	now := s.opts.Now().UTC()
	rec := &mediaRecord{Media: m, created: now, modified: now}
	if s.opts.Store != nil {
		if st, ok := s.opts.Store.StatObject(m.Bucket, m.Object); ok {
			rec.file = st
		}
	}
	s.mu.Lock()
	s.media[m.ID] = rec
	s.mu.Unlock()
}

// IssuedUploadAuths returns every raw (Base64) UploadAuth handed out so
// far, so that tests can prove none appears in any output or file.
func (s *Server) IssuedUploadAuths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.uploadAuths...)
}

// Calls counts requests naming action, whether they succeeded or failed
// (authentication failures included).
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// apiError is a gateway-style failure.
type apiError struct {
	status  int
	code    string
	message string
	detail  map[string]any // AccessDeniedDetail, for Forbidden.RAM
}

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := s.requestID()
	body, readErr := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	params := requestParams(r, body)
	action := r.Header.Get("x-acs-action")
	if action == "" {
		action = params.Get("Action")
	}
	s.mu.Lock()
	s.calls[action]++
	s.mu.Unlock()

	status, code := http.StatusOK, ""
	var out map[string]any
	var apiErr *apiError
	if readErr != nil {
		apiErr = fail(400, "InvalidParameter", "cannot read the request body")
	} else {
		out, apiErr = s.handle(r, body, params, action)
	}
	if apiErr != nil {
		status, code = apiErr.status, apiErr.code
		out = map[string]any{
			"RequestId": reqID,
			"HostId":    r.Host,
			"Code":      apiErr.code,
			"Message":   apiErr.message,
			"Recommend": "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(apiErr.code) + "&product=ICE&requestId=" + reqID,
		}
		if apiErr.detail != nil {
			out["AccessDeniedDetail"] = apiErr.detail
		}
	} else {
		out["RequestId"] = reqID
	}
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "icetest request",
		slog.String("action", action), slog.Int("status", status), slog.String("code", code), slog.String("request_id", reqID))
	var buf []byte
	contentType := "application/json;charset=utf-8"
	if wantsXML(r, params) {
		root := action + "Response"
		if apiErr != nil {
			root = "Error"
		}
		buf, contentType = encodeXML(root, out), "text/xml;charset=utf-8"
	} else {
		var err error
		if buf, err = json.Marshal(out); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("x-acs-request-id", reqID)
	w.WriteHeader(status)
	w.Write(buf)
}

// requestParams merges the query with a form body; the query wins. RPC
// callers (the classic SDK, the aliyun CLI) send their parameters either
// way, and the ACS3 SDK sends formData bodies this way too.
func requestParams(r *http.Request, body []byte) url.Values {
	params := r.URL.Query()
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return params
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return params
	}
	for k, v := range form {
		if _, dup := params[k]; !dup {
			params[k] = v
		}
	}
	return params
}

// wantsXML reports whether the caller asked for XML: Format=XML (RPC), or
// an Accept header naming XML without Format=JSON. POP answers in the
// format asked for, errors included.
func wantsXML(r *http.Request, params url.Values) bool {
	if f := params.Get("Format"); f != "" {
		return strings.EqualFold(f, "XML")
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/xml") || strings.Contains(accept, "text/xml")
}

// handle authenticates the request and runs the action. The order of checks
// follows the POP gateway: signature, timestamp, nonce, token, API, RAM,
// throttling, then the service itself. A request with an Authorization
// header is ACS3; one with Signature/SignatureMethod parameters and no
// Authorization is the older RPC (HMAC-SHA1) style.
func (s *Server) handle(r *http.Request, body []byte, params url.Values, action string) (map[string]any, *apiError) {
	now := s.opts.Now()
	rpc := r.Header.Get("Authorization") == "" && (params.Has("Signature") || params.Has("SignatureMethod"))
	var (
		ak     string
		key    *accessKey
		apiErr *apiError
	)
	version := r.Header.Get("x-acs-version")
	if rpc {
		ak, key, apiErr = s.authenticateRPC(r, params, now)
		version = params.Get("Version")
	} else {
		ak, key, apiErr = s.authenticate(r, body, now)
	}
	if apiErr != nil {
		return nil, apiErr
	}
	if version != APIVersion {
		return nil, fail(400, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	handler, ok := map[string]func(*http.Request, url.Values, *Fault) (map[string]any, *apiError){
		"RefreshUploadMedia": s.refreshUploadMedia,
		"GetMediaInfo":       s.getMediaInfo,
		"SearchMedia":        s.searchMedia,
	}[action]
	if !ok {
		return nil, fail(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	if (key.actions != nil && !key.actions[action]) || key.deny[action] {
		e := fail(403, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM.")
		// The gateway's AccessDeniedDetail, which both SDKs parse.
		e.detail = map[string]any{
			"AuthAction":        "ice:" + action,
			"AuthPrincipalType": "SubUser",
			"NoPermissionType":  "ImplicitDeny",
			"PolicyType":        "AccountLevelIdentityBasedPolicy",
		}
		return nil, e
	}
	if !s.allow(ak, now) {
		return nil, fail(400, "Throttling.User", "Request was denied due to user flow control.")
	}
	f := s.matchFault(action)
	if f != nil && f.Status != 0 {
		msg := f.Message
		if msg == "" {
			msg = "injected fault"
		}
		return nil, fail(f.Status, f.Code, "%s", msg)
	}
	return handler(r, params, f)
}

func (s *Server) allow(ak string, now time.Time) bool {
	if s.opts.QPS == 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limiters[ak]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.opts.QPS), max(1, int(math.Ceil(s.opts.QPS))))
		s.limiters[ak] = l
	}
	return l.AllowN(now, 1)
}

func (s *Server) requestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func b64JSON(v any) string {
	buf, _ := json.Marshal(v)
	return b64(buf)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func (s *Server) refreshUploadMedia(_ *http.Request, params url.Values, f *Fault) (map[string]any, *apiError) {
	m, apiErr := s.lookupMedia(params)
	if apiErr != nil {
		return nil, apiErr
	}
	id, secret, token, expires := s.opts.Issuer.IssueToken(m.Bucket, m.Object, s.opts.STSTTL)
	now := s.opts.Now().UTC()

	address := map[string]any{"Endpoint": s.opts.OSSEndpoint, "Bucket": m.Bucket, "FileName": m.Object}
	auth := map[string]any{
		"AccessKeyId":     id,
		"AccessKeySecret": secret,
		"SecurityToken":   token,
		"Expiration":      fmt.Sprint(int64(s.opts.STSTTL / time.Second)),
		"ExpireUTCTime":   expires.UTC().Format(time.RFC3339),
		"Region":          s.opts.Region,
	}
	addrB64, authB64 := b64JSON(address), b64JSON(auth)
	defer func() {
		s.mu.Lock()
		s.uploadAuths = append(s.uploadAuths, b64JSON(auth), authB64)
		s.mu.Unlock()
	}()
	if f != nil {
		switch f.Corrupt {
		case CorruptBase64:
			authB64 = "!!" + authB64[2:] + "*"
		case CorruptJSON:
			authB64 = b64([]byte(`{"AccessKeyId":`))
		case CorruptMissingField:
			delete(auth, "SecurityToken")
			authB64 = b64JSON(auth)
		case CorruptExpired:
			auth["ExpireUTCTime"] = now.Add(-time.Minute).Format(time.RFC3339)
			auth["Expiration"] = "0"
			authB64 = b64JSON(auth)
		}
		if f.Swap {
			addrB64, authB64 = authB64, addrB64
		}
	}
	return map[string]any{"MediaId": m.ID, "UploadAddress": addrB64, "UploadAuth": authB64}, nil
}
