package reupload

import (
	"io"
	"testing"

	"golang.org/x/sync/semaphore"

	"github.com/reupload/reupload/ossupload"
)

type closingAPI struct {
	ossupload.PartAPI
	closed int
}

func (c *closingAPI) Close() error { c.closed++; return nil }

// The batch's budget wrapper passes Close on to the API it wraps, so the
// engine's close at the end of each media reaches the adapter and its
// connections (a batch of 1,000 media kept ~2,000 of them open).
func TestBudgetedAPIClosesWhatItWraps(t *testing.T) {
	inner := &closingAPI{}
	f := budgetAPI(semaphore.NewWeighted(1), func(ossupload.Target, ossupload.CredentialsSource) (ossupload.PartAPI, error) {
		return inner, nil
	}, ossupload.SDKConfig{})
	api, err := f(ossupload.Target{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := api.(io.Closer)
	if !ok {
		t.Fatal("the batch's API is not an io.Closer: the engine cannot close its connections")
	}
	c.Close()
	if inner.closed != 1 {
		t.Fatalf("inner API closed %d times, want 1", inner.closed)
	}
}
