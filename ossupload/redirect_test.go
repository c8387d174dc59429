package ossupload_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reupload/reupload/internal/nofollow"
	"github.com/reupload/reupload/ossupload"
)

// An OSS endpoint that answers an API call with a redirect never gets it
// followed: the STS token would travel to the Location's host. The call
// fails at once (no retry) with an error naming that host and nothing
// more of the Location, with the adapter's own client and a caller's.
func TestOSSRedirectsAreNotFollowed(t *testing.T) {
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	defer target.Close()
	var asked atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, target.URL+"/steal?sig=LEAKME", http.StatusTemporaryRedirect)
	}))
	defer origin.Close()
	host := strings.TrimPrefix(target.URL, "http://")
	for name, hc := range map[string]*http.Client{"own client": nil, "caller's client": {}} {
		t.Run(name, func(t *testing.T) {
			reached.Store(0)
			asked.Store(0)
			api, err := ossupload.NewOSSAPI(ossupload.Target{Endpoint: origin.URL, Bucket: "bkt", Key: "k", Region: "cn-shanghai"},
				ossupload.StaticCredentials{AccessKeyID: "STS.id", AccessKeySecret: "secret-value", SecurityToken: "token-value", Expires: time.Now().Add(time.Hour)},
				ossupload.SDKConfig{HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			// HEAD and GET (HeadObject, ListParts) are what net/http follows
			// on its own; a part's body has no GetBody, so a 307 to
			// UploadPart comes back as an answer.
			_, err = api.HeadObject(context.Background(), "k")
			var re *nofollow.RedirectError
			if !errors.As(err, &re) || re.Host != host {
				t.Fatalf("err = %v, want a redirect to %s refused", err, host)
			}
			if strings.Contains(err.Error(), "LEAKME") || strings.Contains(err.Error(), "steal") {
				t.Fatalf("the error quotes the Location beyond its host: %v", err)
			}
			if reached.Load() != 0 {
				t.Fatalf("%d request(s) followed the redirect", reached.Load())
			}
			if hc != nil && hc.CheckRedirect != nil {
				t.Fatal("the caller's client was changed")
			}
		})
	}
}
