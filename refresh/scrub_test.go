package refresh

import (
	"strings"
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
