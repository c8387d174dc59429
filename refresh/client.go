package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"

	hosts "github.com/reupload/reupload/internal/endpoint"
	"github.com/reupload/reupload/internal/nofollow"
	"github.com/reupload/reupload/internal/retry"
)

// APIVersion is the ICE OpenAPI version this client speaks.
const APIVersion = "2020-11-09"

// Defaults for Config's zero values.
const (
	DefaultHTTPTimeout    = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second // TCP connect; always applied
	DefaultMaxAttempts    = 4
	BackoffBase           = 250 * time.Millisecond // first retry waits 125-250 ms
	BackoffCap            = 8 * time.Second        // no single wait is longer
)

// ErrInvalidMediaID is wrapped by ValidateMediaID's errors.
var ErrInvalidMediaID = errors.New("refresh: invalid MediaId")

// Config configures a Client. Zero values are documented per field.
type Config struct {
	Region      string                                           // e.g. "cn-shanghai" → https://ice.cn-shanghai.aliyuncs.com; needed unless Endpoint is set
	Endpoint    string                                           // overrides Region's endpoint: "host[:port]" (https) or "http(s)://host[:port]"; plain http only for loopback hosts
	Credential  credentials.Credential                           // caller credentials; nil = Profile, else the credentials-go default chain (env, OIDC, CLI profile, INI profile, ECS RAM role, URI)
	Profile     string                                           // named aliyun CLI profile (~/.aliyun/config.json), used when Credential is nil
	HTTPTimeout time.Duration                                    // whole-call timeout per attempt; 0 = DefaultHTTPTimeout (connect timeout is always DefaultConnectTimeout)
	MaxAttempts int                                              // total attempts; 0 = DefaultMaxAttempts; only throttling, 5xx and network errors are retried
	Sleep       func(ctx context.Context, d time.Duration) error // waits between attempts; nil = a timer that honours ctx
	Now         func() time.Time                                 // clock for credential expiry; nil = time.Now
	// HTTPClient sends the calls (a proxy, a custom CA, tracing); nil = our
	// own, with DefaultConnectTimeout. Each attempt is also bounded by
	// HTTPTimeout through its context, whatever the client's own timeouts.
	// The Client sends through a copy that refuses redirects (ICE never
	// redirects an API call, and a followed one would carry the signature
	// and x-acs-security-token elsewhere); the caller's value is not changed.
	HTTPClient *http.Client
	// Logger hears, at Debug level, every ICE call attempt (action,
	// MediaId, attempt, HTTP status, duration, RequestId, error code) and
	// every retry with its cause and delay; nil means none. Records carry
	// no secret: error texts are scrubbed as the Client's errors are.
	Logger *slog.Logger
}

// Client calls ICE. It is safe for concurrent use.
type Client struct {
	host, protocol, region string
	cred                   credentials.Credential
	hc                     *http.Client
	ownClient              bool // hc is ours to close
	timeout                time.Duration
	maxAttempts            int
	sleep                  func(context.Context, time.Duration) error
	now                    func() time.Time
	secrets                *Secrets // every secret this Client has held or received
	log                    *slog.Logger
}

// Secrets is the set of secret values this Client has used or received:
// the caller's AccessKeySecret and SecurityToken, and every UploadAuth and
// STS credential that RefreshUploadMedia decoded. The Client scrubs its own
// errors with it; callers use it to scrub other output (OSS errors, logs)
// by value. It is never nil.
func (c *Client) Secrets() *Secrets { return c.secrets }

// New validates cfg and builds a Client. It makes no network calls;
// missing credentials are reported by the first call as an *APIError of
// KindCredentials.
func New(cfg Config) (*Client, error) {
	c := &Client{
		region:      cfg.Region,
		timeout:     cfg.HTTPTimeout,
		maxAttempts: cfg.MaxAttempts,
		sleep:       cfg.Sleep,
		now:         cfg.Now,
		secrets:     &Secrets{},
		log:         cfg.Logger,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if c.protocol, c.host, err = resolveEndpoint(cfg.Region, cfg.Endpoint); err != nil {
		return nil, err
	}
	if c.timeout < 0 || c.maxAttempts < 0 {
		return nil, errors.New("refresh: HTTPTimeout and MaxAttempts must not be negative")
	}
	if c.timeout == 0 {
		c.timeout = DefaultHTTPTimeout
	}
	if c.maxAttempts == 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.sleep == nil {
		c.sleep = retry.Sleep
	}
	if c.now == nil {
		c.now = time.Now
	}
	cred := cfg.Credential
	switch {
	case cred != nil:
	case cfg.Profile != "":
		p, err := providers.NewCLIProfileCredentialsProviderBuilder().WithProfileName(cfg.Profile).Build()
		if err != nil {
			return nil, fmt.Errorf("refresh: profile %q: %s", cfg.Profile, Scrub(err.Error()))
		}
		cred = credentials.FromCredentialsProvider("cli_profile", p)
	default:
		if cred, err = credentials.NewCredential(nil); err != nil {
			return nil, fmt.Errorf("refresh: default credentials: %s", Scrub(err.Error()))
		}
	}
	c.cred = &checkedCredential{Credential: cred, secrets: c.secrets}

	// Our own http.Client rather than tea's shared pool: the pool's client
	// has its Timeout rewritten on every call while other calls read it (a
	// data race under -race), and it can never be closed.
	if cfg.HTTPClient != nil {
		c.hc = nofollow.Client(cfg.HTTPClient)
		return c, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: DefaultConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = c.timeout
	c.hc = nofollow.Client(&http.Client{Transport: tr, Timeout: c.timeout})
	c.ownClient = true
	return c, nil
}

// Close releases idle connections. The Client stays usable.
func (c *Client) Close() {
	if c.ownClient {
		c.hc.CloseIdleConnections()
	}
}

func resolveEndpoint(region, endpoint string) (protocol, host string, err error) {
	if endpoint == "" {
		if region == "" {
			return "", "", errors.New("refresh: the region is empty: give a region id such as cn-shanghai (--region), or an endpoint (--endpoint)")
		}
		for _, r := range region {
			if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
				return "", "", fmt.Errorf("refresh: region %q is not a region id like cn-shanghai", region)
			}
		}
		return "https", "ice." + region + ".aliyuncs.com", nil
	}
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("refresh: endpoint %q is not host[:port] or http(s)://host[:port]", endpoint)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !hosts.IsLoopback(u.Hostname()) {
			return "", "", fmt.Errorf("refresh: endpoint %q: plain http is allowed only for loopback hosts; use https", endpoint)
		}
	default:
		return "", "", fmt.Errorf("refresh: endpoint %q: scheme must be http or https", endpoint)
	}
	return u.Scheme, u.Host, nil
}

// checkedCredential marks provider failures so that they can be told apart
// from network errors after the SDK hands them back untouched.
// It also serialises GetCredential: credentials-go's default chain caches
// the provider that answered without a lock (a data race under concurrent
// calls, which a Client shared by a batch makes). The secret and token it
// returns join secrets before any request carries them.
type checkedCredential struct {
	credentials.Credential
	mu      sync.Mutex
	secrets *Secrets
}

func (c *checkedCredential) GetCredential() (*credentials.CredentialModel, error) {
	c.mu.Lock()
	m, err := c.Credential.GetCredential()
	c.mu.Unlock()
	if err != nil {
		// The provider's text may quote a config file, secrets included.
		return nil, &credentialError{errors.New(Scrub(err.Error()))}
	}
	if m == nil || dara.StringValue(m.AccessKeyId) == "" {
		return nil, &credentialError{errors.New("the credential provider returned no AccessKey")}
	}
	c.secrets.Add(dara.StringValue(m.AccessKeySecret), dara.StringValue(m.SecurityToken), dara.StringValue(m.BearerToken))
	return m, nil
}

// CallerCredential returns the caller's own credential (Config.Credential,
// the profile or the default chain), for calls that the upload credential
// RefreshUploadMedia hands out cannot make, such as listing a bucket's
// multipart uploads. Its secrets join Secrets first. A provider failure
// (no credentials configured) is an *APIError of KindCredentials, as from
// any call; a provider that yields only a bearer token has no AccessKey
// to sign OSS requests with, and fails the same way.
func (c *Client) CallerCredential() (Credential, error) {
	m, err := c.cred.GetCredential()
	if err != nil {
		return Credential{}, fromSDK(c.secrets, "GetCredential", "", err)
	}
	return Credential{AccessKeyID: dara.StringValue(m.AccessKeyId),
		AccessKeySecret: Secret(dara.StringValue(m.AccessKeySecret)),
		SecurityToken:   Secret(dara.StringValue(m.SecurityToken))}, nil
}

// ValidateMediaID is a cheap local check before any call: a MediaId is 32
// ASCII letters or digits (ICE issues 32 lowercase hex digits).
func ValidateMediaID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidMediaID)
	}
	if len(id) != 32 {
		return fmt.Errorf("%w %q: want 32 letters or digits, got %d characters", ErrInvalidMediaID, id, len(id))
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z') {
			return fmt.Errorf("%w %q: character %d is not a letter or digit", ErrInvalidMediaID, id, i+1)
		}
	}
	return nil
}

// RefreshUploadMedia asks ICE for a fresh upload credential for mediaID and
// decodes it. The address is the media's source object, so uploading there
// replaces the source while keeping the MediaId.
func (c *Client) RefreshUploadMedia(ctx context.Context, mediaID string) (*Upload, error) {
	if err := ValidateMediaID(mediaID); err != nil {
		return nil, err
	}
	var resp struct {
		RequestId, MediaId, UploadAddress, UploadAuth string
	}
	if err := c.call(ctx, "RefreshUploadMedia", mediaID, nil, &resp); err != nil {
		return nil, err
	}
	// Both blobs before decoding: an error from a later call may echo them.
	c.secrets.Add(resp.UploadAuth, resp.UploadAddress)
	addr, cred, err := Decode(resp.UploadAddress, resp.UploadAuth, c.now())
	if err != nil {
		return nil, fmt.Errorf("ice RefreshUploadMedia %s (request %s): %w", mediaID, c.secrets.Scrub(resp.RequestId), err)
	}
	c.secrets.Add(cred.AccessKeySecret.Reveal(), cred.SecurityToken.Reveal())
	u := &Upload{MediaID: mediaID, RequestID: resp.RequestId, Address: addr, Credential: cred}
	if resp.MediaId != "" {
		u.MediaID = resp.MediaId
	}
	return u, nil
}

// MediaInfo is the part of GetMediaInfo's answer that reupload uses.
type MediaInfo struct {
	MediaID, Status, Title, InputURL string
	MediaType                        string // e.g. "video"
	CoverURL, Description            string
	CreateTime, ModifiedTime         string // as ICE sent them (UTC, RFC 3339)
	Files                            []FileInfo
	RequestID                        string
}

// FileInfo describes one file of a media asset.
type FileInfo struct {
	FileName, FileStatus, Region string
	// FileURL is the file's address; GetMediaInfo signs it for a limited
	// time, so it is a credential of sorts: never log or print it whole.
	FileURL                  string
	FileType                 string  // e.g. "source_file"
	FormatName               string  // e.g. "mp4"
	FileSize                 int64   // bytes; 0 if ICE did not say
	Duration                 float64 // seconds; 0 if ICE did not say
	Width, Height            int64   // pixels; 0 if ICE did not say
	Bitrate                  float64 // kbit/s; 0 if ICE did not say
	CreateTime, ModifiedTime string  // as ICE sent them
}

// Source returns the media's source file (FileType "source_file"), or its
// first file when none says so; ok is false when it has no file.
func (m *MediaInfo) Source() (f FileInfo, ok bool) {
	for _, f := range m.Files {
		if f.FileType == "source_file" {
			return f, true
		}
	}
	if len(m.Files) > 0 {
		return m.Files[0], true
	}
	return FileInfo{}, false
}

// flexFloat accepts a JSON number or a numeric string.
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		*f = flexFloat(v)
	}
	return nil // a value we cannot read is not worth failing the call
}

// flexInt accepts a JSON number or a numeric string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil // a size we cannot read is not worth failing the call
	}
	*f = flexInt(v)
	return nil
}

// mediaInfoJSON is one MediaInfo as GetMediaInfo and SearchMedia send it.
type mediaInfoJSON struct {
	MediaId        string
	MediaBasicInfo struct {
		MediaId, InputURL, MediaType, Status, Title, CreateTime, ModifiedTime string
		CoverURL, Description                                                 string
	}
	FileInfoList []struct {
		FileBasicInfo struct {
			FileName, FileStatus, FileUrl, Region, FileType, FormatName string
			CreateTime, ModifiedTime                                    string
			FileSize, Width, Height                                     flexInt
			Duration, Bitrate                                           flexFloat
		}
	}
}

func (j *mediaInfoJSON) info(requestID string) *MediaInfo {
	b := j.MediaBasicInfo
	mi := &MediaInfo{
		MediaID: j.MediaId, Status: b.Status, Title: b.Title, InputURL: b.InputURL, MediaType: b.MediaType,
		CoverURL: b.CoverURL, Description: b.Description,
		CreateTime: b.CreateTime, ModifiedTime: b.ModifiedTime, RequestID: requestID,
	}
	if mi.MediaID == "" {
		mi.MediaID = b.MediaId
	}
	for _, f := range j.FileInfoList {
		fb := f.FileBasicInfo
		mi.Files = append(mi.Files, FileInfo{FileName: fb.FileName, FileStatus: fb.FileStatus, FileURL: fb.FileUrl, Region: fb.Region,
			FileType: fb.FileType, FormatName: fb.FormatName, FileSize: int64(fb.FileSize), Duration: float64(fb.Duration),
			Width: int64(fb.Width), Height: int64(fb.Height), Bitrate: float64(fb.Bitrate),
			CreateTime: fb.CreateTime, ModifiedTime: fb.ModifiedTime})
	}
	return mi
}

// GetMediaInfo fetches a media asset's status and files, e.g. to preview
// what an overwrite replaces or to confirm that ICE took the new file.
func (c *Client) GetMediaInfo(ctx context.Context, mediaID string) (*MediaInfo, error) {
	if err := ValidateMediaID(mediaID); err != nil {
		return nil, err
	}
	var resp struct {
		RequestId string
		MediaInfo mediaInfoJSON
	}
	if err := c.call(ctx, "GetMediaInfo", mediaID, nil, &resp); err != nil {
		return nil, err
	}
	mi := resp.MediaInfo.info(resp.RequestId)
	if mi.MediaID == "" {
		mi.MediaID = mediaID
	}
	return mi, nil
}

// SearchQuery is one SearchMedia page. Match is ICE's filter expression
// (e.g. TitleMatch's); "" lists every media of MediaType video.
type SearchQuery struct {
	Match    string
	SortBy   string // e.g. "utcCreate:Desc"; "" means ICE's default
	PageNo   int    // from 1; 0 means 1
	PageSize int    // 1..50; 0 means ICE's default (10)
}

// SearchResult is one page of SearchMedia.
type SearchResult struct {
	Total     int
	Media     []*MediaInfo
	RequestID string
}

// SearchMedia finds media (ICE SearchMedia; needs ice:SearchMedia).
func (c *Client) SearchMedia(ctx context.Context, q SearchQuery) (*SearchResult, error) {
	query := map[string]string{}
	if q.Match != "" {
		query["Match"] = q.Match
	}
	if q.SortBy != "" {
		query["SortBy"] = q.SortBy
	}
	if q.PageNo > 0 {
		query["PageNo"] = strconv.Itoa(q.PageNo)
	}
	if q.PageSize > 0 {
		query["PageSize"] = strconv.Itoa(q.PageSize)
	}
	var resp struct {
		RequestId     string
		Total         flexInt
		MediaInfoList []mediaInfoJSON
	}
	if err := c.call(ctx, "SearchMedia", "", query, &resp); err != nil {
		return nil, err
	}
	res := &SearchResult{Total: int(resp.Total), RequestID: resp.RequestId}
	for i := range resp.MediaInfoList {
		res.Media = append(res.Media, resp.MediaInfoList[i].info(resp.RequestId))
	}
	return res, nil
}

// TitleMatch is the SearchMedia Match expression for media whose title
// contains s ("=" is ICE's fuzzy match). Quotes and backslashes in s are
// escaped with a backslash, so what a person types cannot change the
// expression.
func TitleMatch(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "title = '" + r.Replace(s) + "'"
}

// call runs action with retries and decodes the JSON body into out.
// mediaID names the media in errors and goes into the query as MediaId
// when not empty; query adds other parameters.
func (c *Client) call(ctx context.Context, action, mediaID string, query map[string]string, out any) error {
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return newCallError(c.secrets, action, mediaID, context.Cause(ctx))
		}
		began := c.now()
		body, err := c.once(ctx, action, mediaID, query)
		c.logAttempt(ctx, action, mediaID, attempt, c.now().Sub(began), body, err)
		if err == nil {
			buf, err := json.Marshal(body)
			if err == nil {
				err = json.Unmarshal(buf, out)
			}
			if err != nil {
				return newCallError(c.secrets, action, mediaID, fmt.Errorf("unexpected response body: %w", err))
			}
			return nil
		}
		if attempt >= c.maxAttempts || !Retryable(err) {
			return err
		}
		d := backoff(attempt)
		c.log.LogAttrs(ctx, slog.LevelDebug, "ice retry", slog.String("action", action), slog.String("media_id", mediaID),
			slog.Int("attempt", attempt), slog.Duration("delay", d), slog.String("cause", c.secrets.Scrub(err.Error())))
		if serr := c.sleep(ctx, d); serr != nil {
			return newCallError(c.secrets, action, mediaID, errors.Join(serr, err))
		}
	}
}

// logAttempt logs one call attempt at Debug level.
func (c *Client) logAttempt(ctx context.Context, action, mediaID string, attempt int, took time.Duration, body map[string]any, err error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("action", action), slog.String("media_id", mediaID), slog.Int("attempt", attempt)}
	var ae *APIError
	switch {
	case err == nil:
		id, _ := body["RequestId"].(string)
		attrs = append(attrs, slog.Int("status", http.StatusOK), slog.String("request_id", c.secrets.Scrub(id)))
	case errors.As(err, &ae):
		attrs = append(attrs, slog.Int("status", ae.StatusCode), slog.String("request_id", ae.RequestID), slog.String("code", ae.Code))
	default:
		attrs = append(attrs, slog.String("error", c.secrets.Scrub(err.Error())))
	}
	attrs = append(attrs, slog.Duration("duration", took))
	c.log.LogAttrs(ctx, slog.LevelDebug, "ice request", attrs...)
}

// backoff is capped exponential backoff with "equal jitter": half fixed,
// half random, so a retry never fires at once.
func backoff(attempt int) time.Duration {
	return retry.Delay(BackoffBase, BackoffCap, attempt, rand.Float64())
}

// once makes one attempt through darabonba-openapi with the SDK's retry off.
// A fresh openapi.Client per attempt: the SDK client mutates itself during
// a call (GetRpcHeaders clears Headers), so sharing one would race.
func (c *Client) once(ctx context.Context, action, mediaID string, query map[string]string) (map[string]any, error) {
	if !c.ownClient {
		// A caller's client may have no timeout: bound the attempt here,
		// and report its expiry as the transport timeout it stands for.
		actx, cancel := context.WithTimeoutCause(ctx, c.timeout, errAttemptTimeout)
		defer cancel()
		res, err := c.attempt(actx, action, mediaID, query)
		if err != nil && ctx.Err() == nil && context.Cause(actx) == errAttemptTimeout {
			return nil, &CallError{Action: action, MediaID: mediaID, Err: &url.Error{Op: "Post", URL: c.host, Err: errAttemptTimeout}}
		}
		return res, err
	}
	return c.attempt(ctx, action, mediaID, query)
}

// errAttemptTimeout is an attempt that outlived HTTPTimeout.
var errAttemptTimeout error = attemptTimeout{}

type attemptTimeout struct{}

func (attemptTimeout) Error() string   { return "no answer within the HTTP timeout" }
func (attemptTimeout) Timeout() bool   { return true }
func (attemptTimeout) Temporary() bool { return true }

func (c *Client) attempt(ctx context.Context, action, mediaID string, query map[string]string) (map[string]any, error) {
	timeoutMs := int(c.timeout / time.Millisecond)
	api, err := openapi.NewClient(&openapi.Config{
		Endpoint:   dara.String(c.host),
		Protocol:   dara.String(c.protocol),
		RegionId:   dara.String(c.region),
		Credential: c.cred,
		UserAgent:  dara.String("reupload"),
		// tea v1.5.3 reads both in milliseconds (the older "seconds" for
		// ConnectTimeout is gone). Our HttpClient enforces them anyway.
		ReadTimeout:    dara.Int(timeoutMs),
		ConnectTimeout: dara.Int(int(DefaultConnectTimeout / time.Millisecond)),
		HttpClient:     doer{c.hc},
	})
	if err != nil {
		return nil, newCallError(c.secrets, action, mediaID, err)
	}
	params := &openapi.Params{
		Action: dara.String(action), Version: dara.String(APIVersion),
		Protocol: dara.String("HTTPS"), Pathname: dara.String("/"), Method: dara.String("POST"),
		AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	q := map[string]*string{}
	if mediaID != "" {
		q["MediaId"] = dara.String(mediaID)
	}
	for k, v := range query {
		q[k] = dara.String(v)
	}
	req := &openapi.OpenApiRequest{Query: q}
	res, err := api.CallApiWithCtx(ctx, params, req, &dara.RuntimeOptions{})
	if err != nil {
		return nil, fromSDK(c.secrets, action, mediaID, err)
	}
	body, ok := res["body"].(map[string]any)
	if !ok {
		return nil, &CallError{Action: action, MediaID: mediaID, Err: errors.New("response has no JSON object body")}
	}
	return body, nil
}

// doer lets the SDK send through our http.Client; it ignores the transport
// the SDK builds per call.
type doer struct{ hc *http.Client }

func (d doer) Call(r *http.Request, _ *http.Transport) (*http.Response, error) {
	resp, err := d.hc.Do(r)
	var re *nofollow.RedirectError
	if errors.As(err, &re) {
		// http.Client wraps the refusal in a *url.Error showing the whole
		// Location, whose query may hold someone's signature: keep the
		// host only. Not retryable: the endpoint is wrong, not busy.
		return nil, re
	}
	return resp, err
}
