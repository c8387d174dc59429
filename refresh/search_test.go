package refresh_test

import (
	"context"
	"testing"

	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/refresh/icetest"
)

// SearchMedia finds media by title (TitleMatch escapes what a person
// types), pages, and reads each MediaInfo as GetMediaInfo does.
func TestSearchMedia(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	for _, title := range []string{"Keynote 2026", "keynote rehearsal", "Ad break", `it's "quoted" \ odd`} {
		e.srv.AddMedia(icetest.Media{ID: icetest.MediaID(title), Bucket: "outin-bucket", Object: "sv/" + title + "/s.mp4", Title: title})
	}
	c := e.client(t, refresh.Config{})
	ctx := context.Background()
	res, err := c.SearchMedia(ctx, refresh.SearchQuery{Match: refresh.TitleMatch("keynote")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || len(res.Media) != 2 || res.RequestID == "" {
		t.Fatalf("keynote: total %d, %d media, request %q; want 2", res.Total, len(res.Media), res.RequestID)
	}
	for _, m := range res.Media {
		if m.MediaID == "" || m.Title == "" || m.Status == "" {
			t.Fatalf("incomplete media: %+v", m)
		}
	}
	page, err := c.SearchMedia(ctx, refresh.SearchQuery{PageNo: 2, PageSize: 2, SortBy: "utcCreate:Asc"})
	if err != nil || page.Total != 5 || len(page.Media) != 2 {
		t.Fatalf("page 2 of 2: %+v, %v; want 2 of 5", page, err)
	}
	odd, err := c.SearchMedia(ctx, refresh.SearchQuery{Match: refresh.TitleMatch(`it's "quoted" \ odd`)})
	if err != nil || odd.Total != 1 || odd.Media[0].MediaID != icetest.MediaID(`it's "quoted" \ odd`) {
		t.Fatalf("a title with quotes and a backslash: %+v, %v", odd, err)
	}
	if _, err := c.SearchMedia(ctx, refresh.SearchQuery{Match: "title = 'x' or title = 'y'"}); err == nil {
		t.Fatal("an expression ICE refuses was accepted")
	}
}

// GetMediaInfo reads the file's size, type, format, duration and times.
func TestGetMediaInfoFields(t *testing.T) {
	e := newEnv(t, icetest.Options{})
	c := e.client(t, refresh.Config{})
	mi, err := c.GetMediaInfo(context.Background(), media)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := mi.Source()
	if !ok || f.FileType != "source_file" || f.FileName != "source.mp4" || f.FormatName == "" || f.ModifiedTime == "" || mi.Title != "Movie" {
		t.Fatalf("media %+v, source %+v", mi, f)
	}
}
