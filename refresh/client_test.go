package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"
	"go.uber.org/goleak"

	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/refresh/icetest"
)

func TestMain(m *testing.M) {
	// Never wait on the ECS metadata service from a test.
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	goleak.VerifyTestMain(m)
}

// tokens is an in-test icetest.TokenIssuer.
type tokens struct {
	mu     sync.Mutex
	n      int
	expiry time.Time
}

func (k *tokens) IssueToken(bucket, object string, ttl time.Duration) (string, string, string, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.n++
	return fmt.Sprintf("STS.issued%d", k.n), fmt.Sprintf("issued-secret-%d", k.n), fmt.Sprintf("issued-token-%d", k.n), k.expiry
}

const (
	callerAK     = "LTAIcaller"
	callerSecret = "caller-secret-0001"
)

var (
	media    = icetest.MediaID("movie")
	clockNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

type env struct {
	srv    *icetest.Server
	tok    *tokens
	sleeps []time.Duration
	mu     sync.Mutex
}

func (e *env) sleep(_ context.Context, d time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sleeps = append(e.sleeps, d)
	return nil
}

func (e *env) slept() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.sleeps...)
}

// fault adds the fault that spec describes in the emulator's grammar.
func (e *env) fault(t *testing.T, spec string) {
	t.Helper()
	f, err := icetest.ParseFault(spec)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.AddFault(f)
}

func newEnv(t *testing.T, opts icetest.Options) *env {
	t.Helper()
	e := &env{tok: &tokens{expiry: clockNow.Add(3000 * time.Second)}}
	opts.Issuer = e.tok
	if opts.OSSEndpoint == "" {
		opts.OSSEndpoint = "http://127.0.0.1:4567"
	}
	s, err := icetest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.AddAccessKey(callerAK, callerSecret)
	s.AddMedia(icetest.Media{ID: media, Bucket: "outin-bucket", Object: "sv/movie/source.mp4", Title: "Movie"})
	e.srv = s
	return e
}

func akCredential(t *testing.T, id, secret string) credentials.Credential {
	t.Helper()
	p, err := providers.NewStaticAKCredentialsProviderBuilder().WithAccessKeyId(id).WithAccessKeySecret(secret).Build()
	if err != nil {
		t.Fatal(err)
	}
	return credentials.FromCredentialsProvider("access_key", p)
}

func (e *env) client(t *testing.T, cfg refresh.Config) *refresh.Client {
	t.Helper()
	if cfg.Endpoint == "" {
		cfg.Endpoint = e.srv.URL()
	}
	if cfg.Credential == nil && cfg.Profile == "" {
		cfg.Credential = akCredential(t, callerAK, callerSecret)
	}
	if cfg.Sleep == nil {
		cfg.Sleep = e.sleep
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return clockNow }
	}
	c, err := refresh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// noLeak asserts that no secret shows in any rendering of err.
func noLeak(t *testing.T, err error) {
	t.Helper()
	for _, verb := range []string{"%v", "%+v", "%s", "%q"} {
		s := fmt.Sprintf(verb, err)
		for _, secret := range []string{callerSecret, "issued-secret-", "issued-token-"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s of error leaks %q: %s", verb, secret, s)
			}
		}
	}
}

func TestRefreshUploadMedia(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	c := e.client(t, refresh.Config{})
	u, err := c.RefreshUploadMedia(context.Background(), media)
	if err != nil {
		t.Fatal(err)
	}
	want := refresh.Upload{
		MediaID: media, RequestID: u.RequestID,
		Address: refresh.Address{Endpoint: "http://127.0.0.1:4567", Bucket: "outin-bucket", FileName: "sv/movie/source.mp4", Region: "cn-shanghai"},
		Credential: refresh.Credential{
			AccessKeyID: "STS.issued1", AccessKeySecret: "issued-secret-1", SecurityToken: "issued-token-1", Expiration: clockNow.Add(3000 * time.Second),
		},
	}
	if *u != want || u.RequestID == "" {
		t.Errorf("upload %+v\nwant %+v", *u, want)
	}
	if u.Credential.AccessKeySecret.Reveal() != "issued-secret-1" || u.Credential.SecurityToken.Reveal() != "issued-token-1" {
		t.Error("decoded secrets differ from the issued ones")
	}
	for _, s := range []string{fmt.Sprint(u), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", *u)} {
		if strings.Contains(s, "issued-secret") || strings.Contains(s, "issued-token") {
			t.Errorf("printed upload leaks: %s", s)
		}
	}
	// A second refresh: same address, new credential.
	u2, err := c.RefreshUploadMedia(context.Background(), media)
	if err != nil {
		t.Fatal(err)
	}
	if u2.Address != u.Address || u2.Credential.AccessKeyID != "STS.issued2" {
		t.Errorf("second refresh %+v", u2)
	}
	if len(e.slept()) != 0 {
		t.Errorf("slept %v on success", e.slept())
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		fault     string
		attempts  int
		wantCalls int
		wantErr   error // nil: success
		wantCode  string
	}{
		{fault: "RefreshUploadMedia:times=2:503:ServiceUnavailable", wantCalls: 3},
		{fault: "RefreshUploadMedia:times=3:400:Throttling.User", wantCalls: 4},
		{fault: "RefreshUploadMedia:times=3:500:InternalError", wantCalls: 4},
		{fault: "RefreshUploadMedia:times=9:400:Throttling.User", wantCalls: 4, wantErr: refresh.ErrThrottled, wantCode: "Throttling.User"},
		{fault: "RefreshUploadMedia:times=9:503:ServiceUnavailable", attempts: 2, wantCalls: 2, wantErr: refresh.ErrServer, wantCode: "ServiceUnavailable"},
		{fault: "RefreshUploadMedia:times=9:403:Forbidden", wantCalls: 1, wantErr: refresh.ErrPermission, wantCode: "Forbidden"},
		{fault: "RefreshUploadMedia:times=9:404:ResourceNotFound", wantCalls: 1, wantErr: refresh.ErrNotFound, wantCode: "ResourceNotFound"},
		{fault: "RefreshUploadMedia:times=9:400:InvalidParameter", wantCalls: 1, wantErr: refresh.ErrBadRequest, wantCode: "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			e := newEnv(t, icetest.Options{})
			e.fault(t, tc.fault)
			_, err := e.client(t, refresh.Config{MaxAttempts: tc.attempts}).RefreshUploadMedia(context.Background(), media)
			if got := e.srv.Calls("RefreshUploadMedia"); got != tc.wantCalls {
				t.Errorf("calls %d, want %d", got, tc.wantCalls)
			}
			if got := len(e.slept()); got != tc.wantCalls-1 {
				t.Errorf("sleeps %d, want %d", got, tc.wantCalls-1)
			}
			for i, d := range e.slept() {
				hi := min(refresh.BackoffCap, refresh.BackoffBase<<i)
				if d < hi/2 || d > hi {
					t.Errorf("sleep %d = %v, want in [%v, %v]", i, d, hi/2, hi)
				}
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want Is %v", err, tc.wantErr)
			}
			var ae *refresh.APIError
			if !errors.As(err, &ae) || ae.Code != tc.wantCode || ae.RequestID == "" || ae.StatusCode == 0 || ae.Message != "injected fault" {
				t.Errorf("APIError %+v", ae)
			}
			noLeak(t, err)
		})
	}
}

func TestAPIErrors(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	e.srv.AddAccessKey("LTAIreadonly", "readonly-secret", "GetMediaInfo")
	tests := []struct {
		name     string
		cfg      refresh.Config
		id       string
		wantKind refresh.Kind
		sentinel error
		status   int
		code     string
		hint     string
	}{
		{"unknown media", refresh.Config{}, icetest.MediaID("missing"), refresh.KindNotFound, refresh.ErrNotFound, 404, "ResourceNotFound", "check the MediaId, or the --region"},
		{"RAM", refresh.Config{Credential: akCredential(t, "LTAIreadonly", "readonly-secret")}, media, refresh.KindPermission, refresh.ErrPermission, 403, "Forbidden.RAM", "ice:RefreshUploadMedia"},
		{"wrong secret", refresh.Config{Credential: akCredential(t, callerAK, "caller-secret-9999")}, media, refresh.KindCredentials, refresh.ErrCredentials, 400, "SignatureDoesNotMatch", "AccessKey ID and secret"},
		{"unknown AK", refresh.Config{Credential: akCredential(t, "LTAIghost", callerSecret)}, media, refresh.KindCredentials, refresh.ErrCredentials, 404, "InvalidAccessKeyId.NotFound", "AccessKey ID and secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.slept())
			_, err := e.client(t, tc.cfg).RefreshUploadMedia(context.Background(), tc.id)
			var ae *refresh.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v, want *APIError", err, err)
			}
			if ae.Kind != tc.wantKind || ae.StatusCode != tc.status || ae.Code != tc.code || ae.Action != "RefreshUploadMedia" || ae.RequestID == "" {
				t.Errorf("APIError %+v", ae)
			}
			if !errors.Is(err, tc.sentinel) || (tc.sentinel != refresh.ErrThrottled && errors.Is(err, refresh.ErrThrottled)) {
				t.Errorf("errors.Is(%v) mismatch", tc.sentinel)
			}
			if !strings.Contains(ae.Hint(), tc.hint) {
				t.Errorf("Hint %q lacks %q", ae.Hint(), tc.hint)
			}
			if refresh.Retryable(err) {
				t.Error("Retryable")
			}
			if len(e.slept()) != before {
				t.Error("slept before a non-retryable error")
			}
			noLeak(t, err)
		})
	}
}

func TestClockSkew(t *testing.T) {
	e := newEnv(t, icetest.Options{Now: func() time.Time { return time.Now().Add(-30 * time.Minute) }})
	_, err := e.client(t, refresh.Config{}).RefreshUploadMedia(context.Background(), media)
	var ae *refresh.APIError
	if !errors.As(err, &ae) || ae.Code != "InvalidTimeStamp.Expired" || !errors.Is(err, refresh.ErrCredentials) || !strings.Contains(ae.Hint(), "clock") {
		t.Fatalf("error %v (hint %q)", err, ae.Hint())
	}
}

func TestSTSCaller(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	e.srv.AddSTS("STS.caller", "caller-sts-secret-1", "caller-sts-token-1", time.Now().Add(time.Hour))
	p, err := providers.NewStaticSTSCredentialsProviderBuilder().WithAccessKeyId("STS.caller").WithAccessKeySecret("caller-sts-secret-1").WithSecurityToken("caller-sts-token-1").Build()
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, refresh.Config{Credential: credentials.FromCredentialsProvider("sts", p)})
	if _, err := c.RefreshUploadMedia(context.Background(), media); err != nil {
		t.Fatal(err)
	}
	e.srv.AddSTS("STS.caller", "caller-sts-secret-1", "caller-sts-token-1", time.Now().Add(-time.Second))
	_, err = c.RefreshUploadMedia(context.Background(), media)
	var ae *refresh.APIError
	if !errors.As(err, &ae) || ae.Code != "InvalidSecurityToken.Expired" || ae.Kind != refresh.KindCredentials || !strings.Contains(ae.Hint(), "STS token") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(fmt.Sprintf("%+v", err), "caller-sts-token-1") {
		t.Error("error shows the caller's token")
	}
}

func TestCorruptResponses(t *testing.T) {
	tests := []struct{ fault, field string }{
		{"RefreshUploadMedia:corrupt=base64", "UploadAuth"},
		{"RefreshUploadMedia:corrupt=json", "UploadAuth"},
		{"RefreshUploadMedia:corrupt=missing-field", "UploadAuth.SecurityToken"},
		{"RefreshUploadMedia:corrupt=expired", "UploadAuth.ExpireUTCTime"},
		{"RefreshUploadMedia:swap:corrupt=missing-field", "UploadAuth.SecurityToken"},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			e := newEnv(t, icetest.Options{})
			e.fault(t, tc.fault)
			_, err := e.client(t, refresh.Config{}).RefreshUploadMedia(context.Background(), media)
			var de *refresh.DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Fatalf("error %v, want DecodeError on %s", err, tc.field)
			}
			if e.srv.Calls("RefreshUploadMedia") != 1 || len(e.slept()) != 0 {
				t.Error("a malformed answer was retried")
			}
			noLeak(t, err)
		})
	}
}

func TestSwappedResponseDecodes(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	e.srv.AddFault(icetest.Fault{Action: "RefreshUploadMedia", Swap: true})
	u, err := e.client(t, refresh.Config{}).RefreshUploadMedia(context.Background(), media)
	if err != nil {
		t.Fatal(err)
	}
	if u.Address.Bucket != "outin-bucket" || u.Credential.AccessKeyID != "STS.issued1" {
		t.Errorf("upload %+v", u)
	}
}

func TestGetMediaInfo(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	c := e.client(t, refresh.Config{})
	mi, err := c.GetMediaInfo(context.Background(), media)
	if err != nil {
		t.Fatal(err)
	}
	if mi.MediaID != media || mi.Status != "Normal" || mi.Title != "Movie" || mi.MediaType != "video" || mi.RequestID == "" ||
		mi.InputURL != "http://127.0.0.1:4567/outin-bucket/sv/movie/source.mp4" || mi.CreateTime == "" {
		t.Errorf("MediaInfo %+v", mi)
	}
	f := mi.Files[0]
	if len(mi.Files) != 1 || f.FileName != "source.mp4" || f.FileStatus != "Normal" || f.FileURL != mi.InputURL || f.Region != "cn-shanghai" ||
		f.FileType != "source_file" || f.FormatName == "" || f.CreateTime == "" {
		t.Errorf("Files %+v", mi.Files)
	}
	_, err = c.GetMediaInfo(context.Background(), icetest.MediaID("other"))
	if !errors.Is(err, refresh.ErrNotFound) {
		t.Errorf("error %v", err)
	}
}

func TestValidateMediaIDBeforeAnyCall(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	c := e.client(t, refresh.Config{})
	for _, id := range []string{"", "short", strings.Repeat("a", 33), "c2e77390f75271ec802f0674a2ce6ab!", "c2e77390f75271ec802f0674a2ce6ab\n"} {
		if _, err := c.RefreshUploadMedia(context.Background(), id); !errors.Is(err, refresh.ErrInvalidMediaID) {
			t.Errorf("RefreshUploadMedia(%q) error %v", id, err)
		}
		if err := refresh.ValidateMediaID(id); !errors.Is(err, refresh.ErrInvalidMediaID) {
			t.Errorf("ValidateMediaID(%q) = %v", id, err)
		}
	}
	if e.srv.Calls("RefreshUploadMedia") != 0 {
		t.Error("a malformed MediaId reached the service")
	}
	for _, id := range []string{media, "C2E77390F75271EC802F0674A2CE6ABC"} {
		if err := refresh.ValidateMediaID(id); err != nil {
			t.Errorf("ValidateMediaID(%q) = %v", id, err)
		}
	}
}

func clearCredentialEnv(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
		"ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_PROFILE",
		"ALIBABA_CLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_CLI_PROFILE_DISABLED"} {
		t.Setenv(k, "")
	}
	t.Setenv("ALIBABA_CLOUD_CONFIG_FILE", filepath.Join(home, "no-such-config.json"))
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", filepath.Join(home, "no-such-credentials"))
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
}

func TestNoCredentials(t *testing.T) {
	clearCredentialEnv(t)
	e := newEnv(t, icetest.Options{})
	c, err := refresh.New(refresh.Config{Endpoint: e.srv.URL(), Sleep: e.sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.RefreshUploadMedia(context.Background(), media)
	var ae *refresh.APIError
	if !errors.As(err, &ae) || ae.Kind != refresh.KindCredentials || ae.StatusCode != 0 {
		t.Fatalf("error %v, want a credentials APIError", err)
	}
	if !strings.Contains(ae.Hint(), "ALIBABA_CLOUD_ACCESS_KEY_ID") || !strings.Contains(ae.Hint(), "--profile") {
		t.Errorf("hint %q", ae.Hint())
	}
	if e.srv.Calls("RefreshUploadMedia") != 0 || len(e.slept()) != 0 {
		t.Error("called or retried without credentials")
	}
}

func TestEnvAndProfileCredentials(t *testing.T) {
	clearCredentialEnv(t)
	e := newEnv(t, icetest.Options{})
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", callerAK)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", callerSecret)
	c, err := refresh.New(refresh.Config{Endpoint: e.srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.RefreshUploadMedia(context.Background(), media); err != nil {
		t.Fatalf("default chain from env: %v", err)
	}

	cfgFile := filepath.Join(t.TempDir(), "config.json")
	e.srv.AddAccessKey("LTAIprofile", "profile-secret-1")
	os.WriteFile(cfgFile, []byte(`{"current":"other","profiles":[
		{"name":"other","mode":"AK","access_key_id":"LTAIghost","access_key_secret":"x"},
		{"name":"ci","mode":"AK","access_key_id":"LTAIprofile","access_key_secret":"profile-secret-1"}]}`), 0o600)
	t.Setenv("ALIBABA_CLOUD_CONFIG_FILE", cfgFile)
	c2, err := refresh.New(refresh.Config{Endpoint: e.srv.URL(), Profile: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.RefreshUploadMedia(context.Background(), media); err != nil {
		t.Fatalf("profile ci: %v", err)
	}
	c3, err := refresh.New(refresh.Config{Endpoint: e.srv.URL(), Profile: "nope", Sleep: e.sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := c3.RefreshUploadMedia(context.Background(), media); !errors.Is(err, refresh.ErrCredentials) {
		t.Fatalf("unknown profile: %v", err)
	}
}

func TestNewEndpoint(t *testing.T) {
	tests := []struct {
		cfg refresh.Config
		ok  bool
	}{
		{refresh.Config{Region: "cn-shanghai"}, true},
		{refresh.Config{Endpoint: "ice.cn-beijing.aliyuncs.com"}, true},
		{refresh.Config{Endpoint: "https://ice.cn-beijing.aliyuncs.com:443/"}, true},
		{refresh.Config{Endpoint: "http://127.0.0.1:8080"}, true},
		{refresh.Config{Endpoint: "http://[::1]:8080"}, true},
		{refresh.Config{Endpoint: "http://localhost:8080"}, true},
		{refresh.Config{Endpoint: "http://ice.cn-beijing.aliyuncs.com"}, false},
		{refresh.Config{Endpoint: "http://10.0.0.1"}, false},
		{refresh.Config{Endpoint: "ftp://127.0.0.1"}, false},
		{refresh.Config{Endpoint: "https://ice.example.com/path"}, false},
		{refresh.Config{Region: "cn shanghai"}, false},
		{refresh.Config{}, false},
		{refresh.Config{Region: "cn-shanghai", MaxAttempts: -1}, false},
	}
	for _, tc := range tests {
		tc.cfg.Credential = akCredential(t, "a", "b")
		c, err := refresh.New(tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("New(%+v) error %v, want ok=%v", tc.cfg, err, tc.ok)
		}
		if c != nil {
			c.Close()
		}
	}
}

func TestNetworkErrorsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	e := &env{}
	c, err := refresh.New(refresh.Config{Endpoint: "http://" + addr, Credential: akCredential(t, callerAK, callerSecret), Sleep: e.sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.RefreshUploadMedia(context.Background(), media)
	var ce *refresh.CallError
	if !errors.As(err, &ce) || !refresh.Retryable(err) {
		t.Fatalf("error %T %v, want a retryable *CallError", err, err)
	}
	if len(e.slept()) != refresh.DefaultMaxAttempts-1 {
		t.Errorf("sleeps %d", len(e.slept()))
	}
}

func TestHTTPTimeout(t *testing.T) {
	hang := hangingServer(t)
	c, err := refresh.New(refresh.Config{Endpoint: hang.URL, Credential: akCredential(t, callerAK, callerSecret), HTTPTimeout: 50 * time.Millisecond, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.RefreshUploadMedia(context.Background(), media)
	wantRetryableTimeout(t, err)
}

func TestContextCancelStopsRetries(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	e.srv.AddFault(icetest.Fault{Action: "RefreshUploadMedia", Status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	c := e.client(t, refresh.Config{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // Ctrl-C during the first backoff
		<-ctx.Done()
		return ctx.Err()
	}})
	_, err := c.RefreshUploadMedia(ctx, media)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, refresh.ErrServer) {
		t.Fatalf("error %v, want Canceled joined with the 503", err)
	}
	if e.srv.Calls("RefreshUploadMedia") != 1 {
		t.Errorf("calls %d", e.srv.Calls("RefreshUploadMedia"))
	}
	// An already cancelled context sends nothing.
	if _, err := c.RefreshUploadMedia(ctx, media); !errors.Is(err, context.Canceled) || e.srv.Calls("RefreshUploadMedia") != 1 {
		t.Errorf("cancelled ctx: %v", err)
	}
}

func TestConcurrentRefresh(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	c := e.client(t, refresh.Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() {
			_, err := c.RefreshUploadMedia(context.Background(), media)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := e.srv.Calls("RefreshUploadMedia"); got != 12 {
		t.Errorf("calls %d", got)
	}
}

func TestThrottledByServerQPS(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	e := newEnv(t, icetest.Options{QPS: 1, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	c := e.client(t, refresh.Config{Sleep: func(context.Context, time.Duration) error {
		mu.Lock()
		now = now.Add(time.Second) // the backoff lets the token bucket refill
		mu.Unlock()
		return nil
	}})
	for i := range 3 {
		if _, err := c.RefreshUploadMedia(context.Background(), media); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if got := e.srv.Calls("RefreshUploadMedia"); got != 5 {
		t.Errorf("calls %d, want 5 (1 + 2×(throttled, retried))", got)
	}
}

// BenchmarkRefreshUploadMedia measures one signed round trip through the
// SDK to icetest, with decoding.
func BenchmarkRefreshUploadMedia(b *testing.B) {
	tok := &tokens{expiry: clockNow.Add(time.Hour)}
	s, err := icetest.NewServer(icetest.Options{Issuer: tok, OSSEndpoint: "http://127.0.0.1:4567"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.AddAccessKey(callerAK, callerSecret)
	s.AddMedia(icetest.Media{ID: media, Bucket: "outin-bucket", Object: "a.mp4"})
	p, _ := providers.NewStaticAKCredentialsProviderBuilder().WithAccessKeyId(callerAK).WithAccessKeySecret(callerSecret).Build()
	c, err := refresh.New(refresh.Config{Endpoint: s.URL(), Credential: credentials.FromCredentialsProvider("access_key", p), Now: func() time.Time { return clockNow }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		if _, err := c.RefreshUploadMedia(context.Background(), media); err != nil {
			b.Fatal(err)
		}
	}
}

// countingTransport counts the requests a caller's http.Client sends.
type countingTransport struct {
	n  atomic.Int64
	rt http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// A caller's own http.Client carries the calls, and an attempt through one
// without any timeout is still bounded by HTTPTimeout, as a retryable
// transport timeout.
func TestCallerHTTPClient(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	tr := &countingTransport{rt: http.DefaultTransport}
	c := e.client(t, refresh.Config{HTTPClient: &http.Client{Transport: tr}})
	if _, err := c.RefreshUploadMedia(context.Background(), media); err != nil {
		t.Fatal(err)
	}
	if tr.n.Load() != 1 {
		t.Fatalf("the caller's client sent %d requests, want 1", tr.n.Load())
	}

	hang := hangingServer(t)
	c2, err := refresh.New(refresh.Config{Endpoint: hang.URL, Credential: akCredential(t, callerAK, callerSecret),
		HTTPTimeout: 50 * time.Millisecond, MaxAttempts: 1, HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.RefreshUploadMedia(context.Background(), media)
	wantRetryableTimeout(t, err)
}

// hangingServer answers no request until the client gives up.
func hangingServer(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	return hang
}

func wantRetryableTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !refresh.Retryable(err) {
		t.Fatalf("error %v, want a retryable timeout", err)
	}
}
