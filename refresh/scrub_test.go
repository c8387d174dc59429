package refresh

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestScrub(t *testing.T) {
	for _, c := range []struct{ in, secret, keep string }{
		{`unmarshal aliyun cli config from '/h/.aliyun/config.json' failed: {"current":"d","profiles":[{"access_key_id":"LTAIx","access_key_secret":"S3CR3T",}]} , ERROR: Can not open file`,
			"S3CR3T", "'/h/.aliyun/config.json' failed: the file is not valid JSON (fix it, e.g. with 'aliyun configure') , ERROR: Can not open file"},
		{`unmarshal aliyun cli config from '/x' failed: {"sts_token":"T0K3N"`, "T0K3N", "not valid JSON"},
		{`bad body {"AccessKeySecret":"S3CR3T","AccessKeyId":"STS.id"}`, "S3CR3T", `"AccessKeyId":"STS.id"`},
		{`{"SecurityToken":"with \"quote\" T0K3N"}`, "T0K3N", `"SecurityToken":"[redacted]"`},
		{`ini line access_key_secret = S3CR3T, next`, "S3CR3T", "access_key_secret = [redacted], next"},
		{`env ALIBABA_CLOUD_SECURITY_TOKEN=T0K3N more`, "T0K3N", "ALIBABA_CLOUD_SECURITY_TOKEN=[redacted] more"},
		{`--password=hunter2`, "hunter2", "--password=[redacted]"},
	} {
		got := Scrub(c.in)
		if strings.Contains(got, c.secret) || !strings.Contains(got, c.keep) {
			t.Errorf("Scrub(%q)\n = %q\nwant no %q and %q kept", c.in, got, c.secret, c.keep)
		}
	}
	for _, s := range []string{"nothing secret here: HTTP 404", "refresh: decode UploadAuth.SecurityToken: missing"} {
		if Scrub(s) != s {
			t.Errorf("Scrub changed %q to %q", s, Scrub(s))
		}
	}
}

func TestScrubSignature(t *testing.T) {
	in := `echo: ACS3-HMAC-SHA256 Credential=LTAIcaller,SignedHeaders=host;x-acs-action,Signature=0a1b2c3d4e5f and ?Expires=1&Signature=abc%2Bdef&x=1`
	got := Scrub(in)
	for _, s := range []string{"0a1b2c3d4e5f", "abc%2Bdef"} {
		if strings.Contains(got, s) {
			t.Errorf("Scrub kept %q: %s", s, got)
		}
	}
	if !strings.Contains(got, "Credential=LTAIcaller,SignedHeaders=host;x-acs-action,") || !strings.Contains(got, "&x=1") {
		t.Errorf("Scrub removed too much: %s", got)
	}
	// Inside a JSON string the redaction stops before an escaped quote, so
	// the text still parses (the ICE error body is read after scrubbing).
	js := `{"Message":"headers {\"Authorization\":[\"ACS3 Signature=abc123\"]}","RequestId":"r1"}`
	var m map[string]string
	if err := json.Unmarshal([]byte(Scrub(js)), &m); err != nil || m["RequestId"] != "r1" || strings.Contains(m["Message"], "abc123") {
		t.Errorf("Scrub(%s) = %s: %v", js, Scrub(js), err)
	}
}

func TestSecretsScrubByValue(t *testing.T) {
	const (
		token  = "CAIS+token/with=base64chars0123"
		secret = "stsSecretValue42"
	)
	var s Secrets
	s.Add(token, secret, "short", "")
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (values under %d bytes are ignored)", s.Len(), MinSecretLen)
	}
	for _, c := range []struct{ in, want string }{
		{"Message: header x-acs-security-token: " + token + " echoed", "Message: header x-acs-security-token: [redacted] echoed"},
		{"query SecurityToken%3D" + url.QueryEscape(token) + " end", "query SecurityToken%3D[redacted] end"},
		{"path /" + url.PathEscape(token) + "/x", "path /[redacted]/x"},
		{secret + secret + "tail", "[redacted][redacted]tail"},
		{"head" + secret, "head[redacted]"},
		{"short and stsSecretValu4 stay", "short and stsSecretValu4 stay"},
	} {
		if got := s.Scrub(c.in); got != c.want {
			t.Errorf("Scrub(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
	// The longest form wins where forms share a head.
	s.Add("stsSecretValue42-and-more")
	if got := s.Scrub("x stsSecretValue42-and-more y"); got != "x [redacted] y" {
		t.Errorf("longest match: %q", got)
	}
	var nilSet *Secrets
	nilSet.Add("ignored-value")
	if got := nilSet.Scrub("password=hunter2 ignored-value"); got != "password=[redacted] ignored-value" {
		t.Errorf("nil Secrets: %q", got)
	}
}

func TestSecretsBounded(t *testing.T) {
	var s Secrets
	for i := range maxSecrets + 10 {
		s.Add(fmt.Sprintf("secret-value-%06d", i))
	}
	if s.Len() != maxSecrets {
		t.Fatalf("Len = %d, want %d", s.Len(), maxSecrets)
	}
	if got := s.Scrub("secret-value-000000"); got != "secret-value-000000" {
		t.Errorf("the oldest value should have been dropped: %q", got)
	}
	last := fmt.Sprintf("secret-value-%06d", maxSecrets+9)
	if got := s.Scrub(last); got != redacted {
		t.Errorf("the newest value should be held: %q", got)
	}
}

func TestSecretsConcurrent(t *testing.T) {
	var s Secrets
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			v := fmt.Sprintf("concurrent-secret-%d", i)
			s.Add(v)
			if got := s.Scrub("x " + v); got != "x "+redacted {
				t.Errorf("Scrub = %q", got)
			}
		})
	}
	wg.Wait()
}

// A value already redacted by RedactURL stays as it is, and the colon that
// ends a value belongs to the sentence, not to the value.
func TestScrubKeepsSentencePunctuation(t *testing.T) {
	for in, want := range map[string]string{
		"source URL: http://h/new.mp4?Signature=REDACTED: it answered 200": "source URL: http://h/new.mp4?Signature=REDACTED: it answered 200",
		"GET /x?Signature=abc123: 403":                                     "GET /x?Signature=[redacted]: 403",
		"token=abc def":                                                    "token=[redacted] def",
	} {
		if got := Scrub(in); got != want {
			t.Errorf("Scrub(%q) = %q, want %q", in, got, want)
		}
	}
}
