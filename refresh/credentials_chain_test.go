package refresh_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/refresh/icetest"
)

// With nothing configured, the error names where the default chain looked
// and the hint how to fix it, in one line each; before, it was the chain's
// own text: every provider's error joined by ", ", "enviroment" misspelt,
// and Go's file errors ("open …: no such file or directory").
func TestNoCredentialsSaysWhereItLooked(t *testing.T) {
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
	const want = "no Alibaba Cloud credentials found (looked at: environment ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (unset), "
	if !strings.HasPrefix(ae.Message, want) || !strings.Contains(ae.Message, "no-such-config.json (not found)") ||
		!strings.HasSuffix(ae.Message, "ECS RAM role (off: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true))") {
		t.Errorf("message %q, want it to start %q and name the config file and the ECS role", ae.Message, want)
	}
	for _, bad := range []string{"enviroment", "no such file", "providers in the chain", "\n"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error shows %q: %v", bad, err)
		}
	}
	if h := ae.Hint(); !strings.HasPrefix(h, "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or run 'aliyun configure'") {
		t.Errorf("hint %q", h)
	}
}
