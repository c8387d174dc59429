package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/reupload/reupload/internal/emulator"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func client(t *testing.T, endpoint, id, secret string) *openapi.Client {
	t.Helper()
	c, err := openapi.NewClient(&openapi.Config{
		Endpoint: dara.String(endpoint[len("http://"):]), Protocol: dara.String("http"), RegionId: dara.String("cn-shanghai"),
		AccessKeyId: dara.String(id), AccessKeySecret: dara.String(secret),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func call(c *openapi.Client, action string, query map[string]string) (map[string]any, error) {
	q := map[string]*string{}
	for k, v := range query {
		q[k] = dara.String(v)
	}
	res, err := c.CallApiWithCtx(context.Background(), &openapi.Params{
		Action: dara.String(action), Version: dara.String("2020-11-09"), Protocol: dara.String("HTTP"), Pathname: dara.String("/"),
		Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"), ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	body, _ := res["body"].(map[string]any)
	return body, nil
}

type fileInfo struct{ FileSize, FileUrl, ModifiedTime string }

type info struct {
	MediaInfo struct {
		MediaBasicInfo struct{ Title, Status string }
		FileInfoList   []struct{ FileBasicInfo fileInfo }
	}
}

func mediaInfo(t *testing.T, c *openapi.Client, query map[string]string) (status, title string, f fileInfo) {
	t.Helper()
	body, err := call(c, "GetMediaInfo", query)
	if err != nil {
		t.Fatal(err)
	}
	var got info
	buf, _ := json.Marshal(body)
	if err := json.Unmarshal(buf, &got); err != nil || len(got.MediaInfo.FileInfoList) != 1 {
		t.Fatalf("GetMediaInfo %s (%v)", buf, err)
	}
	return got.MediaInfo.MediaBasicInfo.Status, got.MediaInfo.MediaBasicInfo.Title, got.MediaInfo.FileInfoList[0].FileBasicInfo
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestGetMediaInfoSeesOSS runs both fakes together: GetMediaInfo reports
// the seeded source's real size and title, its FileUrl fetches the source
// from the fake OSS until AuthTimeout passes, and an overwrite on OSS shows
// only after MediaLag, with Status Uploading in between.
func TestGetMediaInfoSeesOSS(t *testing.T) {
	const lag = 2 * time.Second
	clk := &clock{now: time.Now()}
	em, err := emulator.Start(emulator.Config{Media: 2, MediaLag: lag, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	info := em.Info()
	c := client(t, info.ICEEndpoint, info.AccessKeyID, info.AccessKeySecret)
	m := info.Media[1]
	if m.Title != emulator.Title(2) || m.Title == info.Media[0].Title {
		t.Errorf("seeded titles %q, %q", info.Media[0].Title, m.Title)
	}

	old := emulator.OldSource(m.MediaID)
	status, title, f := mediaInfo(t, c, map[string]string{"MediaId": m.MediaID, "AuthTimeout": "60"})
	if status != "Normal" || title != m.Title || f.FileSize != strconv.Itoa(len(old)) {
		t.Errorf("seeded media: status %s title %q file %+v", status, title, f)
	}
	if code, body := get(t, f.FileUrl); code != 200 || !bytes.Equal(body, old) {
		t.Errorf("FileUrl %s: %d, %d bytes", f.FileUrl, code, len(body))
	}

	// Overwrite the source on OSS.
	clk.Add(time.Second)
	src := bytes.Repeat([]byte("new source "), 1000)
	if err := em.OSS.PutObjectData(m.Bucket, m.Object, src); err != nil {
		t.Fatal(err)
	}
	status, _, f2 := mediaInfo(t, c, map[string]string{"MediaId": m.MediaID})
	if status != "Uploading" || f2.FileSize != f.FileSize || f2.ModifiedTime != f.ModifiedTime {
		t.Errorf("during the lag: status %s file %+v", status, f2)
	}
	clk.Add(lag)
	status, _, f2 = mediaInfo(t, c, map[string]string{"MediaId": m.MediaID})
	if status != "Normal" || f2.FileSize != strconv.Itoa(len(src)) || f2.ModifiedTime == f.ModifiedTime {
		t.Errorf("after the lag: status %s file %+v", status, f2)
	}
	if code, body := get(t, f2.FileUrl); code != 200 || !bytes.Equal(body, src) {
		t.Errorf("new FileUrl: %d, %d bytes", code, len(body))
	}
	// The first FileUrl was signed for 60 s.
	clk.Add(time.Minute)
	if code, _ := get(t, f.FileUrl); code != http.StatusForbidden {
		t.Errorf("expired FileUrl: %d, want 403", code)
	}

	// SearchMedia finds seeded media by title.
	body, err := call(c, "SearchMedia", map[string]string{"Match": "title = '" + m.Title + "'"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(body["Total"]) != "1" {
		t.Errorf("SearchMedia: %v", body)
	}
}

func TestDeniedKey(t *testing.T) {
	em, err := emulator.Start(emulator.Config{Deny: []string{"ice:GetMediaInfo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	info := em.Info()
	if info.DeniedAccessKeyID == "" || info.DeniedAccessKeySecret == "" || len(info.DeniedActions) != 1 || info.DeniedActions[0] != "GetMediaInfo" {
		t.Fatalf("Info %+v", info)
	}
	denied := client(t, info.ICEEndpoint, info.DeniedAccessKeyID, info.DeniedAccessKeySecret)
	_, err = call(denied, "GetMediaInfo", map[string]string{"MediaId": info.Media[0].MediaID})
	var se *tea.SDKError
	if !errors.As(err, &se) || tea.IntValue(se.StatusCode) != 403 || tea.StringValue(se.Code) != "Forbidden.RAM" {
		t.Fatalf("denied action: %v", err)
	}
	if _, err := call(denied, "RefreshUploadMedia", map[string]string{"MediaId": info.Media[0].MediaID}); err != nil {
		t.Errorf("allowed action: %v", err)
	}
	// The main key is unaffected, and the denied key's secret is one to keep out of output.
	if _, err := call(client(t, info.ICEEndpoint, info.AccessKeyID, info.AccessKeySecret), "GetMediaInfo", map[string]string{"MediaId": info.Media[0].MediaID}); err != nil {
		t.Errorf("main key: %v", err)
	}
	var listed bool
	for _, s := range em.IssuedSecrets() {
		listed = listed || s == info.DeniedAccessKeySecret
	}
	if !listed {
		t.Error("IssuedSecrets lacks the denied key's secret")
	}
	if _, err := emulator.Start(emulator.Config{Deny: []string{"DeleteMedia"}}); err == nil {
		t.Error("unknown --deny action accepted")
	}
}
