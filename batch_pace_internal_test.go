package reupload

import (
	"context"
	"testing"
	"time"

	"github.com/reupload/reupload/refresh"
)

type nopICE struct{}

func (nopICE) RefreshUploadMedia(context.Context, string) (*refresh.Upload, error) {
	return &refresh.Upload{}, nil
}
func (nopICE) GetMediaInfo(context.Context, string) (*refresh.MediaInfo, error) {
	return &refresh.MediaInfo{}, nil
}

// Each ICE action is paced on a budget of its own: a GetMediaInfo call does
// not spend RefreshUploadMedia's. With one budget for both at 1 QPS, the
// second call would need a second's wait, more than its context allows
// (rate.Limiter.Wait then fails at once, without waiting).
func TestBatchPacesEachActionApart(t *testing.T) {
	l := &limitedICE{ICE: nopICE{}, qps: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := l.RefreshUploadMedia(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetMediaInfo(ctx, "m"); err != nil {
		t.Fatalf("GetMediaInfo waited for RefreshUploadMedia's budget: %v", err)
	}
	if _, err := l.RefreshUploadMedia(ctx, "m"); err == nil {
		t.Fatal("a second RefreshUploadMedia within the second was not paced")
	}
}
