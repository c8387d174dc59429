package icetest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"
	"go.uber.org/goleak"

	"github.com/reupload/reupload/refresh/icetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// issuer is a TokenIssuer that mints numbered credentials.
type issuer struct {
	mu    sync.Mutex
	n     int
	base  time.Time
	calls []string // bucket/object per call
}

func (i *issuer) IssueToken(bucket, object string, ttl time.Duration) (string, string, string, time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.n++
	i.calls = append(i.calls, bucket+"/"+object)
	return fmt.Sprintf("STS.id%d", i.n), fmt.Sprintf("sts-secret-%d", i.n), fmt.Sprintf("sts-token-%d", i.n), i.base.Add(ttl)
}

const (
	testAK     = "LTAIcallerAK"
	testSecret = "caller-secret-value"
)

var mediaID = icetest.MediaID("demo")

func newServer(t *testing.T, opts icetest.Options) (*icetest.Server, *issuer) {
	t.Helper()
	iss := &issuer{base: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	if opts.Issuer == nil {
		opts.Issuer = iss
	}
	if opts.OSSEndpoint == "" {
		opts.OSSEndpoint = "http://127.0.0.1:4567"
	}
	s, err := icetest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.AddAccessKey(testAK, testSecret)
	s.AddMedia(icetest.Media{ID: mediaID, Bucket: "outin-bucket", Object: "sv/abc/source.mp4", Title: "Demo"})
	return s, iss
}

func sdk(t *testing.T, endpoint string, cred credentials.Credential) *openapi.Client {
	t.Helper()
	c, err := openapi.NewClient(&openapi.Config{
		Endpoint:   dara.String(endpoint),
		Protocol:   dara.String("http"),
		RegionId:   dara.String("cn-shanghai"),
		Credential: cred,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func staticAK(t *testing.T, id, secret string) credentials.Credential {
	t.Helper()
	p, err := providers.NewStaticAKCredentialsProviderBuilder().WithAccessKeyId(id).WithAccessKeySecret(secret).Build()
	if err != nil {
		t.Fatal(err)
	}
	return credentials.FromCredentialsProvider("access_key", p)
}

func staticSTS(t *testing.T, id, secret, token string) credentials.Credential {
	t.Helper()
	c, err := credentials.NewCredential(&credentials.Config{
		Type: dara.String("sts"), AccessKeyId: dara.String(id), AccessKeySecret: dara.String(secret), SecurityToken: dara.String(token),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func call(c *openapi.Client, action string, query map[string]string) (map[string]any, error) {
	q := map[string]*string{}
	for k, v := range query {
		q[k] = dara.String(v)
	}
	params := &openapi.Params{
		Action: dara.String(action), Version: dara.String("2020-11-09"),
		Protocol: dara.String("HTTPS"), Pathname: dara.String("/"), Method: dara.String("POST"),
		AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	res, err := c.CallApiWithCtx(context.Background(), params, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	body, _ := res["body"].(map[string]any)
	return body, nil
}

func refresh(c *openapi.Client) (map[string]any, error) {
	return call(c, "RefreshUploadMedia", map[string]string{"MediaId": mediaID})
}

// wantSDKError asserts that err is the SDK's *tea.SDKError with status and code.
func wantSDKError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var se *tea.SDKError
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v, want *tea.SDKError", err, err)
	}
	if got := tea.IntValue(se.StatusCode); got != status {
		t.Errorf("status %d, want %d (%v)", got, status, err)
	}
	if got := tea.StringValue(se.Code); got != code {
		t.Errorf("code %q, want %q (%v)", got, code, err)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(tea.StringValue(se.Data)), &data); err != nil {
		t.Fatalf("error Data %q: %v", tea.StringValue(se.Data), err)
	}
	for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
		if s, _ := data[k].(string); s == "" {
			t.Errorf("error body lacks %s: %v", k, data)
		}
	}
}

func decodeBlob(t *testing.T, s string) map[string]string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("not std Base64: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object of strings: %v", err)
	}
	return m
}

func TestRefreshUploadMediaHappyPath(t *testing.T) {
	s, iss := newServer(t, icetest.Options{})
	c := sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
	var firstAddr string
	for i := 1; i <= 2; i++ {
		body, err := refresh(c)
		if err != nil {
			t.Fatal(err)
		}
		if body["MediaId"] != mediaID || body["RequestId"] == "" {
			t.Fatalf("body %v", body)
		}
		addr := decodeBlob(t, body["UploadAddress"].(string))
		want := map[string]string{"Endpoint": "http://127.0.0.1:4567", "Bucket": "outin-bucket", "FileName": "sv/abc/source.mp4"}
		if fmt.Sprint(addr) != fmt.Sprint(want) {
			t.Errorf("address %v, want %v", addr, want)
		}
		if i == 1 {
			firstAddr = body["UploadAddress"].(string)
		} else if body["UploadAddress"] != firstAddr {
			t.Error("UploadAddress changed between refreshes")
		}
		auth := decodeBlob(t, body["UploadAuth"].(string))
		wantAuth := map[string]string{
			"AccessKeyId":     fmt.Sprintf("STS.id%d", i),
			"AccessKeySecret": fmt.Sprintf("sts-secret-%d", i),
			"SecurityToken":   fmt.Sprintf("sts-token-%d", i),
			"Expiration":      "3000",
			"ExpireUTCTime":   iss.base.Add(3000 * time.Second).Format("2006-01-02T15:04:05Z"),
			"Region":          "cn-shanghai",
		}
		if fmt.Sprint(auth) != fmt.Sprint(wantAuth) {
			t.Errorf("auth %v, want %v", auth, wantAuth)
		}
	}
	if got := s.Calls("RefreshUploadMedia"); got != 2 {
		t.Errorf("Calls = %d, want 2", got)
	}
	if len(iss.calls) != 2 || iss.calls[0] != "outin-bucket/sv/abc/source.mp4" {
		t.Errorf("issuer calls %v", iss.calls)
	}
}

func TestSTSCallerAndTTL(t *testing.T) {
	s, _ := newServer(t, icetest.Options{STSTTL: time.Hour})
	s.AddSTS("STS.caller", "caller-sts-secret", "caller-token", time.Now().Add(time.Hour))
	body, err := refresh(sdk(t, s.Endpoint(), staticSTS(t, "STS.caller", "caller-sts-secret", "caller-token")))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeBlob(t, body["UploadAuth"].(string))["Expiration"]; got != "3600" {
		t.Errorf("Expiration %q, want 3600", got)
	}
	_, err = refresh(sdk(t, s.Endpoint(), staticSTS(t, "STS.caller", "caller-sts-secret", "other-token")))
	wantSDKError(t, err, 400, "InvalidSecurityToken.MismatchWithAccessKey")

	s.AddSTS("STS.old", "old-secret", "old-token", time.Now().Add(-time.Second))
	_, err = refresh(sdk(t, s.Endpoint(), staticSTS(t, "STS.old", "old-secret", "old-token")))
	wantSDKError(t, err, 400, "InvalidSecurityToken.Expired")
}

func TestGetMediaInfo(t *testing.T) {
	s, _ := newServer(t, icetest.Options{})
	body, err := call(sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret)), "GetMediaInfo", map[string]string{"MediaId": mediaID})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MediaInfo struct {
			MediaId        string
			MediaBasicInfo struct {
				MediaId, InputURL, MediaType, Status, Title, CreateTime, ModifiedTime string
			}
			FileInfoList []struct {
				FileBasicInfo struct{ FileName, FileStatus, FileUrl, Region string }
			}
		}
	}
	buf, _ := json.Marshal(body)
	if err := json.Unmarshal(buf, &got); err != nil {
		t.Fatal(err)
	}
	mi := got.MediaInfo
	b := mi.MediaBasicInfo
	if mi.MediaId != mediaID || b.MediaId != mediaID || b.MediaType != "video" || b.Status != "Normal" || b.Title != "Demo" || b.CreateTime == "" || b.ModifiedTime == "" {
		t.Errorf("MediaBasicInfo %+v", b)
	}
	if b.InputURL != "http://127.0.0.1:4567/outin-bucket/sv/abc/source.mp4" {
		t.Errorf("InputURL %q", b.InputURL)
	}
	if len(mi.FileInfoList) != 1 {
		t.Fatalf("FileInfoList %+v", mi.FileInfoList)
	}
	f := mi.FileInfoList[0].FileBasicInfo
	if f.FileName != "source.mp4" || f.FileStatus != "Normal" || f.FileUrl != b.InputURL || f.Region != "cn-shanghai" {
		t.Errorf("FileBasicInfo %+v", f)
	}
}

func TestErrors(t *testing.T) {
	s, _ := newServer(t, icetest.Options{})
	s.AddAccessKey("LTAIlimited", "limited-secret", "ice:GetMediaInfo")
	good := sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
	tests := []struct {
		name   string
		client *openapi.Client
		action string
		query  map[string]string
		status int
		code   string
	}{
		{"wrong secret", sdk(t, s.Endpoint(), staticAK(t, testAK, "not-the-secret")), "RefreshUploadMedia", map[string]string{"MediaId": mediaID}, 400, "SignatureDoesNotMatch"},
		{"unknown AK", sdk(t, s.Endpoint(), staticAK(t, "LTAInobody", testSecret)), "RefreshUploadMedia", map[string]string{"MediaId": mediaID}, 404, "InvalidAccessKeyId.NotFound"},
		{"RAM denies action", sdk(t, s.Endpoint(), staticAK(t, "LTAIlimited", "limited-secret")), "RefreshUploadMedia", map[string]string{"MediaId": mediaID}, 403, "Forbidden.RAM"},
		{"unknown action", good, "DeleteMediaInfos", map[string]string{"MediaIds": mediaID}, 404, "InvalidAction.NotFound"},
		{"unknown media", good, "RefreshUploadMedia", map[string]string{"MediaId": icetest.MediaID("nope")}, 404, "ResourceNotFound"},
		{"malformed media", good, "RefreshUploadMedia", map[string]string{"MediaId": "not-a-media-id"}, 400, "InvalidParameter"},
		{"missing media", good, "RefreshUploadMedia", nil, 400, "MissingParameter"},
		{"unknown media info", good, "GetMediaInfo", map[string]string{"MediaId": icetest.MediaID("nope")}, 404, "ResourceNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(tc.client, tc.action, tc.query)
			wantSDKError(t, err, tc.status, tc.code)
		})
	}
	// The limited key may still call what it was granted.
	if _, err := call(sdk(t, s.Endpoint(), staticAK(t, "LTAIlimited", "limited-secret")), "GetMediaInfo", map[string]string{"MediaId": mediaID}); err != nil {
		t.Errorf("granted action: %v", err)
	}
}

func TestClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{20 * time.Minute, -20 * time.Minute} {
		s, _ := newServer(t, icetest.Options{Now: func() time.Time { return time.Now().Add(skew) }})
		_, err := refresh(sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret)))
		wantSDKError(t, err, 400, "InvalidTimeStamp.Expired")
	}
	// Within the window is fine.
	s, _ := newServer(t, icetest.Options{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	if _, err := refresh(sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))); err != nil {
		t.Fatal(err)
	}
}

func TestThrottling(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := newServer(t, icetest.Options{QPS: 1, Now: clock})
	c := sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
	if _, err := refresh(c); err != nil {
		t.Fatal(err)
	}
	_, err := refresh(c)
	wantSDKError(t, err, 400, "Throttling.User")

	// Without the SDKError conversion the SDK's own type shows: ThrottlingError.
	c.DisableSDKError = dara.Bool(true)
	_, err = refresh(c)
	var te *openapi.ThrottlingError
	if !errors.As(err, &te) || tea.StringValue(te.Code) != "Throttling.User" {
		t.Fatalf("error %T %v, want *client.ThrottlingError", err, err)
	}
	// Another AccessKey has its own bucket.
	s.AddAccessKey("LTAIother", "other-secret")
	if _, err := refresh(sdk(t, s.Endpoint(), staticAK(t, "LTAIother", "other-secret"))); err != nil {
		t.Errorf("other key throttled: %v", err)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if _, err := refresh(c); err != nil {
		t.Errorf("after a second: %v", err)
	}
	if got := s.Calls("RefreshUploadMedia"); got != 5 {
		t.Errorf("Calls = %d, want 5", got)
	}
}

// recorder sits in front of the fake and keeps copies of the requests.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []*http.Request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r.Clone(context.Background()))
	rec.mu.Unlock()
	rec.next.ServeHTTP(w, r)
}

func post(t *testing.T, url string, header http.Header) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var body map[string]string
	buf, _ := io.ReadAll(resp.Body)
	json.Unmarshal(buf, &body)
	return resp.StatusCode, body
}

func TestReplayedNonce(t *testing.T) {
	s, _ := newServer(t, icetest.Options{})
	rec := &recorder{next: s}
	front := httptest.NewServer(rec)
	defer front.Close()
	c := sdk(t, strings.TrimPrefix(front.URL, "http://"), staticAK(t, testAK, testSecret))
	if _, err := refresh(c); err != nil {
		t.Fatal(err)
	}
	first := rec.reqs[0]
	status, body := post(t, front.URL+first.URL.RequestURI(), first.Header)
	if status != 400 || body["Code"] != "SignatureNonceUsed" {
		t.Fatalf("replay: %d %v", status, body)
	}

	// Missing and garbled Authorization, on an otherwise signed request.
	h := first.Header.Clone()
	h.Del("Authorization")
	if status, body := post(t, front.URL+first.URL.RequestURI(), h); status != 400 || body["Code"] != "MissingParameter" {
		t.Errorf("no Authorization: %d %v", status, body)
	}
	h.Set("Authorization", "ACS3-HMAC-SHA256 Credential="+testAK)
	if status, body := post(t, front.URL+first.URL.RequestURI(), h); status != 400 || body["Code"] != "IncompleteSignature" {
		t.Errorf("garbled Authorization: %d %v", status, body)
	}
	// Tampering with the query breaks the signature.
	h = first.Header.Clone()
	h.Set("x-acs-signature-nonce", "ffffffffffffffffffffffffffffffff")
	if status, body := post(t, front.URL+first.URL.RequestURI(), h); status != 400 || body["Code"] != "SignatureDoesNotMatch" {
		t.Errorf("tampered nonce: %d %v", status, body)
	}
	// An unsigned x-acs-* header is refused.
	h = first.Header.Clone()
	h.Set("x-acs-extra", "1")
	if status, body := post(t, front.URL+first.URL.RequestURI(), h); status != 400 || body["Code"] != "IncompleteSignature" {
		t.Errorf("unsigned header: %d %v", status, body)
	}
}

func TestNonceForgottenAfterWindow(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := newServer(t, icetest.Options{Now: clock})
	s.AddAccessKey("testAK", "testSecret")
	s.AddMedia(icetest.Media{ID: "c2e77390f75271ec802f0674a2ce6abc", Bucket: "b", Object: "o.mp4"})
	send := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, vectorRequest())
		return w
	}
	if w := send(); w.Code != 200 {
		t.Fatalf("doc vector refused: %d %s", w.Code, w.Body)
	}
	if w := send(); !strings.Contains(w.Body.String(), `"SignatureNonceUsed"`) {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
	mu.Lock()
	now = now.Add(icetest.Window + time.Second)
	mu.Unlock()
	// The nonce is forgotten, but the date is now out of the window too.
	if w := send(); !strings.Contains(w.Body.String(), `"InvalidTimeStamp.Expired"`) {
		t.Fatalf("late replay: %d %s", w.Code, w.Body)
	}
}

// vectorRequest is a RefreshUploadMedia request signed with ACS3-HMAC-SHA256
// as darabonba-openapi signs it (docs/ice.md, "Signatures").
func vectorRequest() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://ice.cn-shanghai.aliyuncs.com/?MediaId=c2e77390f75271ec802f0674a2ce6abc", nil)
	r.Header.Set("x-acs-action", "RefreshUploadMedia")
	r.Header.Set("x-acs-version", "2020-11-09")
	r.Header.Set("x-acs-date", "2025-01-01T00:00:00Z")
	r.Header.Set("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef")
	r.Header.Set("x-acs-credentials-provider", "static_ak")
	r.Header.Set("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	r.Header.Set("Authorization", "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=f8f234e6db64a66019216bd22864fe19b4732387e54a9075d25478e347441c24")
	return r
}

func TestSignatureVector(t *testing.T) {
	signed := strings.Split("host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version", ";")
	cr := icetest.CanonicalRequest(vectorRequest(), signed, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	want := "POST\n/\nMediaId=c2e77390f75271ec802f0674a2ce6abc\n" +
		"host:ice.cn-shanghai.aliyuncs.com\nx-acs-action:RefreshUploadMedia\n" +
		"x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"x-acs-credentials-provider:static_ak\nx-acs-date:2025-01-01T00:00:00Z\n" +
		"x-acs-signature-nonce:0123456789abcdef0123456789abcdef\nx-acs-version:2020-11-09\n\n" +
		"host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if cr != want {
		t.Fatalf("canonical request\n%s\nwant\n%s", cr, want)
	}
	if got := icetest.Sign("testSecret", cr); got != "f8f234e6db64a66019216bd22864fe19b4732387e54a9075d25478e347441c24" {
		t.Fatalf("signature %s", got)
	}
}

func TestFaults(t *testing.T) {
	s, _ := newServer(t, icetest.Options{})
	c := sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
	f, err := icetest.ParseFault("RefreshUploadMedia:nth=2:503:ServiceUnavailable")
	if err != nil {
		t.Fatal(err)
	}
	remove := s.AddFault(f)
	for i := 1; i <= 3; i++ {
		_, err := refresh(c)
		if i == 2 {
			wantSDKError(t, err, 503, "ServiceUnavailable")
		} else if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	remove()

	f, _ = icetest.ParseFault("RefreshUploadMedia:times=2:400:Throttling.User")
	remove = s.AddFault(f)
	for i := 1; i <= 3; i++ {
		_, err := refresh(c)
		if i <= 2 {
			wantSDKError(t, err, 400, "Throttling.User")
		} else if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	remove()

	// A fault on another action leaves this one alone.
	defer s.AddFault(icetest.Fault{Action: "GetMediaInfo", Status: 500})()
	if _, err := refresh(c); err != nil {
		t.Fatal(err)
	}
	_, err = call(c, "GetMediaInfo", map[string]string{"MediaId": mediaID})
	wantSDKError(t, err, 500, "InternalError")
}

func TestCorruptAndSwap(t *testing.T) {
	s, _ := newServer(t, icetest.Options{})
	c := sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
	blob := func(spec string) (addr, auth string) {
		t.Helper()
		f, err := icetest.ParseFault(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer s.AddFault(f)()
		body, err := refresh(c)
		if err != nil {
			t.Fatal(err)
		}
		return body["UploadAddress"].(string), body["UploadAuth"].(string)
	}

	if _, auth := blob("RefreshUploadMedia:nth=1:corrupt=base64"); isBase64(auth) {
		t.Errorf("corrupt=base64 gave valid Base64 %q", auth)
	}
	_, auth := blob("RefreshUploadMedia:corrupt=json")
	if raw, err := base64.StdEncoding.DecodeString(auth); err != nil || json.Valid(raw) {
		t.Errorf("corrupt=json: %q %v", raw, err)
	}
	_, auth = blob("RefreshUploadMedia:corrupt=missing-field")
	if m := decodeBlob(t, auth); m["SecurityToken"] != "" || m["AccessKeyId"] == "" {
		t.Errorf("corrupt=missing-field: %v", m)
	}
	_, auth = blob("RefreshUploadMedia:corrupt=expired")
	exp, err := time.Parse(time.RFC3339, decodeBlob(t, auth)["ExpireUTCTime"])
	if err != nil || exp.After(time.Now()) {
		t.Errorf("corrupt=expired: %v %v", exp, err)
	}
	addr, auth := blob("RefreshUploadMedia:swap")
	if decodeBlob(t, addr)["AccessKeyId"] == "" || decodeBlob(t, auth)["Bucket"] == "" {
		t.Errorf("swap did not swap")
	}
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		spec string
		want icetest.Fault
		err  bool
	}{
		{spec: "RefreshUploadMedia:nth=2:503:ServiceUnavailable", want: icetest.Fault{Action: "RefreshUploadMedia", Nth: 2, Status: 503, Code: "ServiceUnavailable"}},
		{spec: "RefreshUploadMedia:times=3:400:Throttling.User", want: icetest.Fault{Action: "RefreshUploadMedia", Times: 3, Status: 400, Code: "Throttling.User"}},
		{spec: "RefreshUploadMedia:nth=1:corrupt=base64", want: icetest.Fault{Action: "RefreshUploadMedia", Nth: 1, Corrupt: "base64"}},
		{spec: "*:every=2:500", want: icetest.Fault{Action: "*", Every: 2, Status: 500, Code: "InternalError"}},
		{spec: "RefreshUploadMedia:swap:corrupt=expired", want: icetest.Fault{Action: "RefreshUploadMedia", Swap: true, Corrupt: "expired"}},
		{spec: "GetMediaInfo:503:message=busy: try later", want: icetest.Fault{Action: "GetMediaInfo", Status: 503, Code: "ServiceUnavailable", Message: "busy: try later"}},
		{spec: "RefreshUploadMedia", err: true},
		{spec: ":503", err: true},
		{spec: "RefreshUploadMedia:nth=0:503", err: true},
		{spec: "RefreshUploadMedia:corrupt=zip", err: true},
		{spec: "RefreshUploadMedia:bogus", err: true},
		{spec: "RefreshUploadMedia:200", err: true},
		{spec: "RefreshUploadMdia:nth=1:503", err: true}, // a misspelt action would never fire
	}
	for _, tc := range tests {
		got, err := icetest.ParseFault(tc.spec)
		if (err != nil) != tc.err {
			t.Errorf("ParseFault(%q) error %v, want error %v", tc.spec, err, tc.err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("ParseFault(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}

func TestFaultSchedule(t *testing.T) {
	s, _ := newServer(t, icetest.Options{})
	c := sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
	defer s.AddFault(icetest.Fault{Action: "RefreshUploadMedia", Every: 2, Times: 2, Status: 503})()
	var failed []int
	for i := 1; i <= 7; i++ {
		if _, err := refresh(c); err != nil {
			failed = append(failed, i)
		}
	}
	if fmt.Sprint(failed) != "[2 4]" {
		t.Errorf("failed calls %v, want [2 4]", failed)
	}
}

func TestConcurrentCalls(t *testing.T) {
	s, iss := newServer(t, icetest.Options{})
	// tea's pooled http.Client races with itself (dara/core.go writes
	// Timeout on every call while another reads it), so concurrent callers
	// bring their own HttpClient, as package refresh does.
	hc := &httpDoer{c: &http.Client{Transport: &http.Transport{}}}
	defer hc.c.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			// One SDK client per goroutine: openapi.Client mutates itself per call.
			c := sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
			c.HttpClient = hc
			_, err := refresh(c)
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
	if s.Calls("RefreshUploadMedia") != 16 || iss.n != 16 {
		t.Errorf("calls %d, issued %d", s.Calls("RefreshUploadMedia"), iss.n)
	}
}

type httpDoer struct{ c *http.Client }

func (d *httpDoer) Call(r *http.Request, _ *http.Transport) (*http.Response, error) { return d.c.Do(r) }
