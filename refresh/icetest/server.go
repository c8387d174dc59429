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

// Options configure a Server. Every zero value is usable except Issuer.
type Options struct {
	Addr        string           // listen address; "" means 127.0.0.1:0
	Region      string           // "" means "cn-shanghai"; goes into UploadAuth.Region and FileInfo.Region
	OSSEndpoint string           // UploadAddress.Endpoint, e.g. "http://127.0.0.1:4567"; "" means https://oss-<Region>.aliyuncs.com
	Issuer      TokenIssuer      // required: mints the STS triple inside UploadAuth
	STSTTL      time.Duration    // lifetime of issued STS credentials; 0 means DefaultSTSTTL
	QPS         float64          // per-AccessKey request rate above which calls get Throttling.User; 0 means unlimited
	Now         func() time.Time // server clock for x-acs-date skew, nonces, STS expiry and throttling; nil means time.Now
	Logger      *slog.Logger     // request log (never secrets); nil discards
}

// Media is an asset the fake knows. ID must be well formed (see MediaID).
type Media struct {
	ID, Bucket, Object string
	Title              string
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
	token   string          // "" for a permanent AccessKey
	expires time.Time       // STS only
}

type mediaRecord struct {
	Media
	created, modified time.Time
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

// AddSTS registers caller STS credentials: requests must carry token in
// x-acs-security-token and are refused with InvalidSecurityToken.Expired
// once the server clock passes expires.
func (s *Server) AddSTS(id, secret, token string, expires time.Time) {
	s.mu.Lock()
	s.keys[id] = &accessKey{secret: secret, token: token, expires: expires}
	s.mu.Unlock()
}

// AddMedia registers (or replaces) a media asset.
func (s *Server) AddMedia(m Media) {
	now := s.opts.Now().UTC()
	s.mu.Lock()
	s.media[m.ID] = &mediaRecord{Media: m, created: now, modified: now}
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
}

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := s.requestID()
	action := r.Header.Get("x-acs-action")
	if action == "" {
		action = r.URL.Query().Get("Action")
	}
	s.mu.Lock()
	s.calls[action]++
	s.mu.Unlock()

	status, code := http.StatusOK, ""
	body, apiErr := s.handle(r, action)
	if apiErr != nil {
		status, code = apiErr.status, apiErr.code
		body = map[string]any{
			"RequestId": reqID,
			"HostId":    r.Host,
			"Code":      apiErr.code,
			"Message":   apiErr.message,
			"Recommend": "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(apiErr.code) + "&product=ICE&requestId=" + reqID,
		}
	} else {
		body["RequestId"] = reqID
	}
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "icetest request",
		slog.String("action", action), slog.Int("status", status), slog.String("code", code), slog.String("request_id", reqID))
	buf, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("x-acs-request-id", reqID)
	w.WriteHeader(status)
	w.Write(buf)
}

// handle authenticates the request and runs the action. The order of checks
// follows the POP gateway: signature, timestamp, nonce, token, API, RAM,
// throttling, then the service itself.
func (s *Server) handle(r *http.Request, action string) (map[string]any, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, fail(400, "InvalidParameter", "cannot read the request body")
	}
	now := s.opts.Now()
	ak, key, apiErr := s.authenticate(r, body, now)
	if apiErr != nil {
		return nil, apiErr
	}
	if v := r.Header.Get("x-acs-version"); v != APIVersion {
		return nil, fail(400, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	handler, ok := map[string]func(*http.Request, url.Values, *Fault) (map[string]any, *apiError){
		"RefreshUploadMedia": s.refreshUploadMedia,
		"GetMediaInfo":       s.getMediaInfo,
	}[action]
	if !ok {
		return nil, fail(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	if key.actions != nil && !key.actions[action] {
		return nil, fail(403, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM. (ice:%s)", action)
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
	params := r.URL.Query()
	if form, err := url.ParseQuery(string(body)); err == nil && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		for k, v := range form {
			if _, dup := params[k]; !dup {
				params[k] = v
			}
		}
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

func (s *Server) lookupMedia(params url.Values) (*mediaRecord, *apiError) {
	id := params.Get("MediaId")
	if id == "" {
		return nil, fail(400, "MissingParameter", "The input parameter \"MediaId\" that is mandatory for processing this request is not supplied.")
	}
	if !ValidMediaID(id) {
		return nil, fail(400, "InvalidParameter", "The specified parameter \"MediaId\" is not valid.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.media[id]
	if !ok {
		return nil, fail(404, "ResourceNotFound", "The specified media %s does not exist.", id)
	}
	cp := *m
	return &cp, nil
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
	s.mu.Lock()
	if rec, ok := s.media[m.ID]; ok {
		rec.modified = now
	}
	s.mu.Unlock()

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

func (s *Server) fileURL(bucket, object string) string {
	u, err := url.Parse(s.opts.OSSEndpoint)
	if err != nil || u.Host == "" {
		return s.opts.OSSEndpoint + "/" + bucket + "/" + object
	}
	obj := (&url.URL{Path: object}).EscapedPath()
	if ip := net.ParseIP(u.Hostname()); ip != nil || u.Hostname() == "localhost" {
		return u.Scheme + "://" + u.Host + "/" + bucket + "/" + obj // path style: no DNS for IPs
	}
	return u.Scheme + "://" + bucket + "." + u.Host + "/" + obj
}

func (s *Server) getMediaInfo(_ *http.Request, params url.Values, _ *Fault) (map[string]any, *apiError) {
	m, apiErr := s.lookupMedia(params)
	if apiErr != nil {
		return nil, apiErr
	}
	fileURL := s.fileURL(m.Bucket, m.Object)
	name := m.Object[strings.LastIndex(m.Object, "/")+1:]
	return map[string]any{
		"MediaInfo": map[string]any{
			"MediaId": m.ID,
			"MediaBasicInfo": map[string]any{
				"MediaId":      m.ID,
				"InputURL":     fileURL,
				"MediaType":    "video",
				"Status":       "Normal",
				"Title":        m.Title,
				"CreateTime":   m.created.Format(time.RFC3339),
				"ModifiedTime": m.modified.Format(time.RFC3339),
			},
			"FileInfoList": []any{map[string]any{
				"FileBasicInfo": map[string]any{
					"FileName":   name,
					"FileStatus": "Normal",
					"FileUrl":    fileURL,
					"Region":     s.opts.Region,
				},
			}},
		},
	}, nil
}
