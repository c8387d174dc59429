package icetest_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"

	"github.com/reupload/reupload/refresh/icetest"
)

// store is an ObjectStore and Presigner the test controls.
type store struct {
	mu      sync.Mutex
	objects map[string]icetest.ObjectStat
}

func (s *store) put(bucket, key string, size int64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects = map[string]icetest.ObjectStat{}
	}
	s.objects[bucket+"/"+key] = icetest.ObjectStat{Size: size, LastModified: at}
}

func (s *store) StatObject(bucket, key string) (icetest.ObjectStat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.objects[bucket+"/"+key]
	return st, ok
}

func (s *store) PresignGetURL(bucket, key string, expires time.Time) string {
	return "http://oss.test/" + bucket + "/" + key + "?Expires=" + strconv.FormatInt(expires.Unix(), 10) + "&Signature=x"
}

// clock is a settable server clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fileBasicInfo struct {
	FileName, FileSize, FileType, FileStatus, FileUrl, Region string
	Duration, Bitrate, Width, Height, FormatName              string
	CreateTime, ModifiedTime                                  string
}

type mediaInfo struct {
	MediaId        string
	MediaBasicInfo struct {
		MediaId, InputURL, MediaType, BusinessType, Source, UploadSource string
		Status, Title, Description, CoverURL, CreateTime, ModifiedTime   string
	}
	FileInfoList []struct{ FileBasicInfo fileBasicInfo }
}

func decodeInto(t *testing.T, body map[string]any, v any) {
	t.Helper()
	buf, _ := json.Marshal(body)
	if err := json.Unmarshal(buf, v); err != nil {
		t.Fatal(err)
	}
}

func getMediaInfo(t *testing.T, c *openapi.Client, query map[string]string) mediaInfo {
	t.Helper()
	body, err := call(c, "GetMediaInfo", query)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ MediaInfo mediaInfo }
	decodeInto(t, body, &got)
	if len(got.MediaInfo.FileInfoList) != 1 {
		t.Fatalf("FileInfoList %+v", got.MediaInfo.FileInfoList)
	}
	return got.MediaInfo
}

// mediaServer is a fake with a store, a clock, and one media whose 1,000
// byte source was written at the clock's start.
func mediaServer(t *testing.T, lag time.Duration) (*icetest.Server, *store, *clock, *openapi.Client) {
	t.Helper()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	st := &store{}
	st.put("outin-bucket", "sv/lag/source.mp4", 1000, clk.Now().Add(-time.Hour))
	s, _ := newServer(t, icetest.Options{Store: st, Presigner: st, MediaLag: lag, Now: clk.Now})
	s.AddMedia(icetest.Media{ID: icetest.MediaID("lag"), Bucket: "outin-bucket", Object: "sv/lag/source.mp4",
		Title: "Spring launch keynote", Description: "Keynote, 1080p", Duration: 8, Width: 1920, Height: 1080})
	return s, st, clk, sdk(t, s.Endpoint(), staticAK(t, testAK, testSecret))
}

func TestGetMediaInfoDocumentedFields(t *testing.T) {
	_, _, clk, c := mediaServer(t, 0)
	mi := getMediaInfo(t, c, map[string]string{"MediaId": icetest.MediaID("lag")})
	b, f := mi.MediaBasicInfo, mi.FileInfoList[0].FileBasicInfo
	created := clk.Now().Format("2006-01-02T15:04:05Z")
	if b.Title != "Spring launch keynote" || b.Description != "Keynote, 1080p" || b.MediaType != "video" || b.BusinessType != "general" ||
		b.Source != "oss" || b.UploadSource != "general" || b.Status != "Normal" || b.CreateTime != created || b.ModifiedTime != created {
		t.Errorf("MediaBasicInfo %+v", b)
	}
	want := fileBasicInfo{
		FileName: "source.mp4", FileSize: "1000", FileType: "source_file", FileStatus: "Normal", Region: "cn-shanghai",
		FileUrl:  "http://oss.test/outin-bucket/sv/lag/source.mp4?Expires=" + strconv.FormatInt(clk.Now().Add(time.Hour).Unix(), 10) + "&Signature=x",
		Duration: "8.000", Bitrate: "1.000", Width: "1920", Height: "1080", FormatName: "mov,mp4,m4a,3gp,3g2,mj2",
		CreateTime: created, ModifiedTime: clk.Now().Add(-time.Hour).Format("2006-01-02T15:04:05Z"),
	}
	if f != want {
		t.Errorf("FileBasicInfo\n%+v\nwant\n%+v", f, want)
	}
	// AuthTimeout sets the FileUrl's life.
	mi = getMediaInfo(t, c, map[string]string{"MediaId": icetest.MediaID("lag"), "AuthTimeout": "60"})
	if u, _ := url.Parse(mi.FileInfoList[0].FileBasicInfo.FileUrl); u.Query().Get("Expires") != strconv.FormatInt(clk.Now().Add(time.Minute).Unix(), 10) {
		t.Errorf("FileUrl with AuthTimeout 60: %s", u)
	}
	for _, bad := range []string{"0", "86401", "soon"} {
		_, err := call(c, "GetMediaInfo", map[string]string{"MediaId": icetest.MediaID("lag"), "AuthTimeout": bad})
		wantSDKError(t, err, 400, "InvalidParameter")
	}
}

func TestGetMediaInfoByInputURL(t *testing.T) {
	_, _, _, c := mediaServer(t, 0)
	id := icetest.MediaID("lag")
	for _, in := range []string{
		"http://127.0.0.1:4567/outin-bucket/sv/lag/source.mp4",
		"http://127.0.0.1:4567/outin-bucket/sv/lag/source.mp4?Expires=1&OSSAccessKeyId=x&Signature=y",
		"https://outin-bucket.oss-cn-shanghai.aliyuncs.com/sv/lag/source.mp4",
		"oss://outin-bucket/sv/lag/source.mp4",
	} {
		if mi := getMediaInfo(t, c, map[string]string{"InputURL": in}); mi.MediaId != id {
			t.Errorf("InputURL %s: media %s, want %s", in, mi.MediaId, id)
		}
	}
	// MediaId wins over InputURL.
	if mi := getMediaInfo(t, c, map[string]string{"MediaId": mediaID, "InputURL": "oss://outin-bucket/sv/lag/source.mp4"}); mi.MediaId != mediaID {
		t.Errorf("MediaId and InputURL: got %s", mi.MediaId)
	}
	_, err := call(c, "GetMediaInfo", map[string]string{"InputURL": "oss://outin-bucket/sv/none.mp4"})
	wantSDKError(t, err, 404, "ResourceNotFound")
	_, err = call(c, "GetMediaInfo", map[string]string{"InputURL": "ftp://x/y"})
	wantSDKError(t, err, 400, "InvalidParameter")
	_, err = call(c, "GetMediaInfo", nil)
	wantSDKError(t, err, 400, "MissingParameter")
}

// TestMediaLag: after an overwrite, GetMediaInfo shows the old file with
// Status Uploading until MediaLag has passed since the object's
// LastModified, then the new size and ModifiedTime. RefreshUploadMedia alone
// changes nothing.
func TestMediaLag(t *testing.T) {
	const lag = 2 * time.Second
	_, st, clk, c := mediaServer(t, lag)
	id := map[string]string{"MediaId": icetest.MediaID("lag")}
	before := getMediaInfo(t, c, id)
	if _, err := call(c, "RefreshUploadMedia", id); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if mi := getMediaInfo(t, c, id); mi.MediaBasicInfo.ModifiedTime != before.MediaBasicInfo.ModifiedTime || mi.MediaBasicInfo.Status != "Normal" {
		t.Errorf("after a refresh alone: %+v", mi.MediaBasicInfo)
	}

	written := clk.Now()
	st.put("outin-bucket", "sv/lag/source.mp4", 5000, written)
	for _, step := range []time.Duration{0, lag - time.Second} {
		clk.Set(written.Add(step))
		mi := getMediaInfo(t, c, id)
		f := mi.FileInfoList[0].FileBasicInfo
		if mi.MediaBasicInfo.Status != "Uploading" || f.FileSize != "1000" || f.ModifiedTime != before.FileInfoList[0].FileBasicInfo.ModifiedTime ||
			mi.MediaBasicInfo.ModifiedTime != before.MediaBasicInfo.ModifiedTime {
			t.Errorf("%v after the overwrite: status %s, file %+v", step, mi.MediaBasicInfo.Status, f)
		}
	}
	clk.Add(time.Second) // the lag has passed
	mi := getMediaInfo(t, c, id)
	f := mi.FileInfoList[0].FileBasicInfo
	stamp := written.Format("2006-01-02T15:04:05Z")
	if mi.MediaBasicInfo.Status != "Normal" || f.FileSize != "5000" || f.ModifiedTime != stamp || mi.MediaBasicInfo.ModifiedTime != stamp || f.Bitrate != "5.000" {
		t.Errorf("after the lag: status %s modified %s, file %+v", mi.MediaBasicInfo.Status, mi.MediaBasicInfo.ModifiedTime, f)
	}

	// With no lag the new file shows at once.
	_, st, clk, c = mediaServer(t, 0)
	st.put("outin-bucket", "sv/lag/source.mp4", 7, clk.Now())
	if mi := getMediaInfo(t, c, id); mi.MediaBasicInfo.Status != "Normal" || mi.FileInfoList[0].FileBasicInfo.FileSize != "7" {
		t.Errorf("lag 0: %+v", mi)
	}
}

func TestDeniedKey(t *testing.T) {
	s, _ := newServer(t, icetest.Options{})
	s.AddAccessKeyDeny("LTAIdenied", "denied-secret", "ice:RefreshUploadMedia", "SearchMedia")
	c := sdk(t, s.Endpoint(), staticAK(t, "LTAIdenied", "denied-secret"))
	for _, action := range []string{"RefreshUploadMedia", "SearchMedia"} {
		_, err := call(c, action, map[string]string{"MediaId": mediaID})
		wantSDKError(t, err, 403, "Forbidden.RAM")
		if want := fmt.Sprintf(`"AuthAction":"ice:%s"`, action); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error lacks AccessDeniedDetail %s: %v", action, want, err)
		}
	}
	if _, err := call(c, "GetMediaInfo", map[string]string{"MediaId": mediaID}); err != nil {
		t.Errorf("an action not denied: %v", err)
	}
}
