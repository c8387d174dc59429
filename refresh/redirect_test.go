package refresh_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/reupload/reupload/internal/nofollow"
	"github.com/reupload/reupload/refresh"
)

// An ICE endpoint answering a redirect is an error naming the Location's
// host, once: nothing reaches the Location (the request carries the
// signature and x-acs-security-token), and nothing is retried. Our own
// client and a caller's behave alike, and the caller's is not modified.
func TestRedirectNotFollowed(t *testing.T) {
	var stolen atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer sink.Close()
	sinkHost := strings.TrimPrefix(sink.URL, "http://")
	var asked atomic.Int32
	ice := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, sink.URL+"/collect?Signature=SIG-IN-LOCATION", http.StatusTemporaryRedirect)
	}))
	defer ice.Close()

	caller := &http.Client{} // follows redirects by default
	for name, hc := range map[string]*http.Client{"own client": nil, "caller's client": caller} {
		asked.Store(0)
		e := &env{}
		c, err := refresh.New(refresh.Config{Endpoint: ice.URL, Credential: stsCredential(t, "STS.caller", "redirect-secret-1", "redirect-token-1"),
			HTTPClient: hc, Sleep: e.sleep})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RefreshUploadMedia(context.Background(), media)
		c.Close()
		var re *nofollow.RedirectError
		if !errors.As(err, &re) || re.Host != sinkHost || re.Status != http.StatusTemporaryRedirect {
			t.Fatalf("%s: error %v, want a *nofollow.RedirectError to %s", name, err, sinkHost)
		}
		msg := err.Error()
		if !strings.Contains(msg, sinkHost) || strings.Contains(msg, "SIG-IN-LOCATION") || strings.Contains(msg, "/collect") {
			t.Errorf("%s: message %q should name the host and nothing else of the Location", name, msg)
		}
		if refresh.Retryable(err) || len(e.slept()) != 0 || asked.Load() != 1 {
			t.Errorf("%s: retried (retryable %v, %d sleeps, %d requests); a redirect is not transient", name, refresh.Retryable(err), len(e.slept()), asked.Load())
		}
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("%d requests reached the redirect's Location, want 0", n)
	}
	if caller.CheckRedirect != nil {
		t.Error("the caller's http.Client was modified")
	}
}
