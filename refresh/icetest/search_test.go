package icetest_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"

	"github.com/reupload/reupload/refresh/icetest"
)

var searchTitles = []string{"Spring launch keynote", "Summer sale teaser", "Founder's interview", "Spring product demo", "Annual report 2025"}

// searchServer seeds the five titles a minute apart (the "Demo" media of
// newServer is oldest) and returns their creation times in milliseconds.
func searchServer(t *testing.T) (*openapi.Client, []int64) {
	t.Helper()
	clk := &clock{now: time.Now().Add(-10 * time.Minute).Truncate(time.Second)} // within the SDK's clock window
	s, _ := newServer(t, icetest.Options{Now: clk.Now})
	var created []int64
	for i, title := range searchTitles {
		clk.Add(time.Minute)
		s.AddMedia(icetest.Media{ID: icetest.MediaID(title), Bucket: "outin-bucket", Object: fmt.Sprintf("sv/%d/source.mp4", i), Title: title})
		created = append(created, clk.Now().UnixMilli())
	}
	return sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret)), created
}

type searchResult struct {
	Code, Success, ScrollToken, RequestId string
	Total                                 int
	MediaInfoList                         []mediaInfo
}

func search(t *testing.T, c *openapi.Client, query map[string]string) (searchResult, []string) {
	t.Helper()
	body, err := call(c, "SearchMedia", query)
	if err != nil {
		t.Fatal(err)
	}
	var r searchResult
	decodeInto(t, body, &r)
	var titles []string
	for _, m := range r.MediaInfoList {
		titles = append(titles, m.MediaBasicInfo.Title)
	}
	return r, titles
}

func TestSearchMediaMatch(t *testing.T) {
	c, created := searchServer(t)
	ms := func(i int) string { return strconv.FormatInt(created[i], 10) }
	tests := []struct {
		match string
		want  []string // newest first, the default sort
	}{
		{"", []string{"Annual report 2025", "Spring product demo", "Founder's interview", "Summer sale teaser", "Spring launch keynote", "Demo"}},
		{"title = 'spring'", []string{"Spring product demo", "Spring launch keynote"}},
		{"title == 'Spring'", []string{"Spring product demo", "Spring launch keynote"}}, // title only has the fuzzy match
		{`title = 'Founder\'s'`, []string{"Founder's interview"}},
		{`title = "Founder's"`, []string{"Founder's interview"}},
		{"mediaId == '" + icetest.MediaID("Summer sale teaser") + "'", []string{"Summer sale teaser"}},
		{"mediaId = '" + icetest.MediaID("Summer sale")[:8] + "'", nil}, // exact, never partial
		{"mediaId in ('" + icetest.MediaID("Summer sale teaser") + "','" + icetest.MediaID("Annual report 2025") + "')", []string{"Annual report 2025", "Summer sale teaser"}},
		{"title = 'spring' and (mediaType == 'video' and status in ('Normal'))", []string{"Spring product demo", "Spring launch keynote"}},
		{"mediaType = 'audio'", nil},
		{"utcCreate = ('" + ms(1) + "','" + ms(3) + "')", []string{"Founder's interview"}},
		{"utcCreate = [" + ms(1) + "," + ms(3) + "]", []string{"Spring product demo", "Founder's interview", "Summer sale teaser"}},
		{"utcCreate = ['" + ms(3) + "',)", []string{"Annual report 2025", "Spring product demo"}},
		{"tagList in ('launch')", nil}, // a documented field the fake holds no data for
	}
	for _, tc := range tests {
		t.Run(tc.match, func(t *testing.T) {
			r, titles := search(t, c, map[string]string{"Match": tc.match, "PageSize": "50"})
			if !slices.Equal(titles, tc.want) || r.Total != len(tc.want) {
				t.Errorf("titles %q (Total %d), want %q", titles, r.Total, tc.want)
			}
			if r.Code != "200" || r.Success != "true" || r.RequestId == "" {
				t.Errorf("envelope %+v", r)
			}
		})
	}
}

func TestSearchMediaPagingAndSort(t *testing.T) {
	c, _ := searchServer(t)
	all := append([]string{"Demo"}, searchTitles...)
	var pages []string
	for page := 1; page <= 3; page++ {
		r, titles := search(t, c, map[string]string{"SortBy": "utcCreate:Asc", "PageNo": strconv.Itoa(page), "PageSize": "4"})
		if r.Total != len(all) {
			t.Errorf("page %d: Total %d, want %d", page, r.Total, len(all))
		}
		pages = append(pages, titles...)
	}
	if !slices.Equal(pages, all) {
		t.Errorf("pages %q, want %q", pages, all)
	}
	// Each listed media is a full MediaInfo, as GetMediaInfo gives it.
	r, _ := search(t, c, map[string]string{"Match": "title = 'keynote'"})
	if len(r.MediaInfoList) != 1 || r.MediaInfoList[0].MediaId != icetest.MediaID("Spring launch keynote") || len(r.MediaInfoList[0].FileInfoList) != 1 ||
		r.MediaInfoList[0].FileInfoList[0].FileBasicInfo.FileName != "source.mp4" {
		t.Errorf("MediaInfoList %+v", r.MediaInfoList)
	}
	// Default page size is 10.
	if r, titles := search(t, c, nil); len(titles) != 6 || r.Total != 6 || titles[0] != "Annual report 2025" {
		t.Errorf("defaults: %q %d", titles, r.Total)
	}
}

func TestSearchMediaInvalid(t *testing.T) {
	c, _ := searchServer(t)
	for _, q := range []map[string]string{
		{"Match": "title like '%spring%'"},
		{"Match": "title = 'a' or title = 'b'"},
		{"Match": "colour = 'red'"},
		{"Match": "title in ('a','b')"},
		{"Match": "utcCreate = '5'"},
		{"Match": "utcCreate = ('x','y')"},
		{"Match": "title = 'unterminated"},
		{"Match": "(title = 'a'"},
		{"Match": "title = 'a' mediaId == 'b'"},
		{"SortBy": "title:Desc"},
		{"SortBy": "utcCreate:Down"},
		{"PageSize": "51"},
		{"PageNo": "0"},
	} {
		_, err := call(c, "SearchMedia", q)
		wantSDKError(t, err, 400, "InvalidParameter")
	}
}
