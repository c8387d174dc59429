package refresh_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"

	"github.com/reupload/reupload/refresh"
)

func stsCredential(t *testing.T, id, secret, token string) credentials.Credential {
	t.Helper()
	p, err := providers.NewStaticSTSCredentialsProviderBuilder().WithAccessKeyId(id).WithAccessKeySecret(secret).WithSecurityToken(token).Build()
	if err != nil {
		t.Fatal(err)
	}
	return credentials.FromCredentialsProvider("sts", p)
}

// echoICE answers RefreshUploadMedia with an issued STS credential and every
// other action with a 500 whose Message echoes the request's headers (as a
// JSON dump, bare, and URL-encoded), everything the process has been given
// (the issued secret and token, the raw UploadAuth) and a signed URL, as a
// careless server or proxy in front of ICE might.
type echoICE struct {
	mu       sync.Mutex
	auth     string // raw UploadAuth last sent
	issuedSK string
	issuedTK string
}

func (e *echoICE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("x-acs-action") == "RefreshUploadMedia" {
		blob := func(v any) string { b, _ := json.Marshal(v); return base64.StdEncoding.EncodeToString(b) }
		e.auth = blob(map[string]string{"AccessKeyId": "STS.issued", "AccessKeySecret": e.issuedSK, "SecurityToken": e.issuedTK, "Expiration": "3000"})
		addr := blob(map[string]string{"Endpoint": "https://oss-cn-shanghai.aliyuncs.com", "Bucket": "outin-bucket", "FileName": "sv/a/source.mp4"})
		json.NewEncoder(w).Encode(map[string]string{"RequestId": "req-ok", "MediaId": media, "UploadAddress": addr, "UploadAuth": e.auth})
		return
	}
	headers, _ := json.Marshal(r.Header)
	tok := r.Header.Get("x-acs-security-token")
	msg := fmt.Sprintf("internal failure; request headers were %s; token %s; escaped %s; Authorization: %s; last auth %s; issued %s / %s",
		headers, tok, url.QueryEscape(tok), r.Header.Get("Authorization"), e.auth, e.issuedSK, e.issuedTK)
	w.WriteHeader(http.StatusInternalServerError)
	json.NewEncoder(w).Encode(map[string]string{"RequestId": "req-500 " + tok, "Code": "InternalError", "Message": msg})
}

// An ICE error whose Message echoes request headers and earlier answers
// shows none of the caller's secret and token, nor the issued ones, in the
// error's text under any verb, nor in the SDK error it wraps.
func TestErrorEchoingSecretsIsScrubbed(t *testing.T) {
	const (
		callerSK = "echo-caller-secret-9f8e7d"
		callerTK = "CAIS+echo/caller=token+1234567890"
	)
	echo := &echoICE{issuedSK: "issued-echo-secret-5a4b", issuedTK: "CAIS+issued/echo=token+0987654321"}
	srv := httptest.NewServer(echo)
	defer srv.Close()
	e := &env{}
	c, err := refresh.New(refresh.Config{Endpoint: srv.URL, Credential: stsCredential(t, "STS.caller", callerSK, callerTK), Sleep: e.sleep, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	up, err := c.RefreshUploadMedia(context.Background(), media)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetMediaInfo(context.Background(), media)
	if err == nil {
		t.Fatal("GetMediaInfo succeeded against a 500")
	}
	secrets := []string{callerSK, callerTK, url.QueryEscape(callerTK), echo.issuedSK, echo.issuedTK, echo.auth}
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%q", err)}
	for u := err; u != nil; {
		texts = append(texts, u.Error())
		w, ok := u.(interface{ Unwrap() error })
		if !ok {
			break
		}
		u = w.Unwrap()
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("error text shows secret %q:\n%s", s, text)
			}
		}
	}
	if !strings.Contains(err.Error(), "internal failure") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("the message should stay, scrubbed: %s", err)
	}
	// The lead scrubs other output with the same set.
	if got := c.Secrets().Scrub("oss said " + up.Credential.SecurityToken.Reveal()); got != "oss said [redacted]" {
		t.Errorf("Secrets().Scrub = %q", got)
	}
}
