package refresh_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/reupload/reupload/refresh"
)

const (
	plainSecret = "very-secret-value-42"
	plainToken  = "CAIS-security-token-42"
)

func sampleUpload() refresh.Upload {
	return refresh.Upload{
		MediaID: "c2e77390f75271ec802f0674a2ce6abc", RequestID: "REQ",
		Address: refresh.Address{Endpoint: "https://oss-cn-shanghai.aliyuncs.com", Bucket: "b-1", FileName: "a.mp4", Region: "cn-shanghai"},
		Credential: refresh.Credential{
			AccessKeyID: "STS.id", AccessKeySecret: plainSecret, SecurityToken: plainToken,
			Expiration: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		},
	}
}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, plainSecret) || strings.Contains(s, plainToken) {
		t.Errorf("%s leaks a secret: %s", what, s)
	}
}

func TestSecretRedaction(t *testing.T) {
	u := sampleUpload()
	s := refresh.Secret(plainSecret)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%d"} {
		assertNoSecret(t, verb+" Secret", fmt.Sprintf(verb, s))
		assertNoSecret(t, verb+" *Secret", fmt.Sprintf(verb, &s))
		assertNoSecret(t, verb+" Credential", fmt.Sprintf(verb, u.Credential))
		assertNoSecret(t, verb+" Upload", fmt.Sprintf(verb, u))
		assertNoSecret(t, verb+" *Upload", fmt.Sprintf(verb, &u))
	}
	if got := fmt.Sprint(s); got != "[redacted]" {
		t.Errorf("Sprint = %q", got)
	}
	buf, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "JSON", string(buf))
	if !strings.Contains(string(buf), `"AccessKeySecret":"[redacted]"`) {
		t.Errorf("JSON %s", buf)
	}
	var out bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		l := slog.New(h)
		l.Info("upload", "secret", s, "cred", u.Credential, "upload", u, slog.Any("ptr", &u))
		l.Info("group", slog.Group("g", "token", u.Credential.SecurityToken))
	}
	assertNoSecret(t, "slog", out.String())
	if !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("slog output lacks [redacted]: %s", out.String())
	}
	if s.Reveal() != plainSecret {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}
