package ui_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ui"
)

type mediaList struct {
	Total int
	Media []struct {
		MediaID  string `json:"media_id"`
		Title    string
		Status   string
		Size     int64
		Duration float64
	}
}

func TestSearch(t *testing.T) {
	h := newHarness(t, harnessOpts{em: emulator.Config{Media: 30}})
	h.login(t)
	var r mediaList
	if got := h.call(t, "GET", "/api/search?q=keynote", nil, &r); got != 200 {
		t.Fatalf("search: %d", got)
	}
	if r.Total != 3 || len(r.Media) != 3 { // "Spring launch keynote" and its parts 2 and 3
		t.Fatalf("keynote: %+v", r)
	}
	for _, m := range r.Media {
		if !strings.Contains(m.Title, "keynote") || m.Size == 0 || m.Duration == 0 || m.Status == "" {
			t.Errorf("result %+v", m)
		}
	}
	// What an editor types is escaped, not an expression.
	if got := h.call(t, "GET", "/api/search?q="+urlQuery("' or title = '"), nil, &r); got != 200 || r.Total != 0 {
		t.Errorf("quote in the query: %d %+v", got, r)
	}
	if got := h.call(t, "GET", "/api/search?q="+urlQuery("director's cut"), nil, &r); got != 200 || r.Total != 2 {
		t.Errorf("director's cut: %d %+v", got, r)
	}
	m := h.info.Media[4]
	if got := h.call(t, "GET", "/api/search?q="+m.MediaID, nil, &r); got != 200 || r.Total != 1 || r.Media[0].MediaID != m.MediaID || r.Media[0].Title != m.Title {
		t.Errorf("by MediaId: %d %+v", got, r)
	}
	if got := h.call(t, "GET", "/api/search?q=&page=2", nil, &r); got != 200 || r.Total != 30 || len(r.Media) != 10 {
		t.Errorf("everything, page 2: %d total %d, %d media", got, r.Total, len(r.Media))
	}
	// No signed URL (FileUrl, InputURL) reaches the page.
	if s := h.rec.String(); strings.Contains(s, "Signature") || strings.Contains(s, "Expires=") || strings.Contains(s, "http://127.0.0.1:"+strings.TrimPrefix(h.info.OSSEndpoint, "http://127.0.0.1:")) {
		t.Errorf("a URL reached the page")
	}
	h.noSecrets(t)
}

type jobStart struct {
	ID, State string
}

// TestReplaceSession is an editor's whole session through the API: search,
// browse, preview, replace from the root, replace from a dropped file,
// watch to "Replaced", and no secret in anything the page received.
func TestReplaceSession(t *testing.T) {
	h := newHarness(t, harnessOpts{em: emulator.Config{Media: 3}, options: reupload.Options{PartSize: 100 << 10}})
	h.login(t)
	m := h.info.Media[1]
	data := h.mediaFile(t, "shoot/final cut.mp4", 350<<10)

	var r mediaList
	h.call(t, "GET", "/api/search?q="+urlQuery("Harbor"), nil, &r)
	if len(r.Media) != 1 || r.Media[0].MediaID != m.MediaID {
		t.Fatalf("search: %+v", r)
	}
	var pv ui.Preview
	src := map[string]any{"media_id": m.MediaID, "source": map[string]string{"path": "shoot/final cut.mp4"}}
	if got := h.call(t, "POST", "/api/preview", src, &pv); got != 200 {
		t.Fatalf("preview: %d", got)
	}
	if pv.Title != m.Title || pv.NewSize != int64(len(data)) || pv.CurrentSize != int64(len(emulator.OldSource(m.MediaID))) || len(pv.Problems) != 0 {
		t.Errorf("preview %+v", pv)
	}
	var j jobStart
	if got := h.call(t, "POST", "/api/jobs", src, &j); got != http.StatusAccepted {
		t.Fatalf("start: %d", got)
	}
	done := h.waitState(t, j.ID, ui.StateDone)
	if !strings.Contains(done.Message, "Replaced") || !strings.Contains(done.Message, done.CRC64) || done.CRC64 == "" || done.ICERequestID == "" || !strings.Contains(done.Message, done.ICERequestID) {
		t.Errorf("done: %+v", done)
	}
	if done.Progress.Done != int64(len(data)) || done.Progress.Total != int64(len(data)) || done.Progress.PartsDone != 4 {
		t.Errorf("progress at the end: %+v", done.Progress)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Error("OSS does not hold the new file")
	}
	// Starting the same file again: OSS holds it already, nothing to do.
	if got := h.call(t, "POST", "/api/jobs", src, &j); got != http.StatusAccepted {
		t.Fatalf("start again: %d", got)
	}
	if u := h.waitState(t, j.ID, ui.StateUnchanged); !strings.Contains(u.Message, "Nothing to do") {
		t.Errorf("unchanged: %+v", u)
	}

	// A dropped file is spooled under the state dir, uploaded, removed.
	m2 := h.info.Media[2]
	drop := append([]byte("\x1a\x45\xdf\xa3"), bytes.Repeat([]byte("webm"), 40<<10)...)
	var sp struct {
		ID, Name string
		Size     int64
	}
	req, _ := http.NewRequest("POST", h.base+"/api/spool?name="+urlQuery("../../evil name.webm"), bytes.NewReader(drop))
	resp, err := h.web.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	decodeBody(t, resp, &sp)
	if sp.Name != "evil name.webm" || sp.Size != int64(len(drop)) {
		t.Fatalf("spool: %+v", sp)
	}
	spooled, _ := filepath.Glob(filepath.Join(h.state, "ui-spool", "drop-*"))
	if len(spooled) != 1 {
		t.Fatalf("spool dir holds %v", spooled)
	}
	if got := h.call(t, "POST", "/api/jobs", map[string]any{"media_id": m2.MediaID, "source": map[string]string{"spool": sp.ID}}, &j); got != http.StatusAccepted {
		t.Fatalf("start dropped: %d", got)
	}
	if d := h.waitState(t, j.ID, ui.StateDone); !strings.Contains(d.Message, "Replaced") || d.Source != "evil name.webm (dropped)" {
		t.Errorf("dropped: %+v", d)
	}
	if !bytes.Equal(h.object(t, m2), drop) {
		t.Error("OSS does not hold the dropped file")
	}
	if _, err := os.Stat(spooled[0]); !os.IsNotExist(err) {
		t.Errorf("the spooled file is still there: %v", err)
	}
	var jobs []ui.Job
	h.call(t, "GET", "/api/jobs", nil, &jobs)
	if len(jobs) != 3 {
		t.Errorf("this session's jobs: %+v", jobs)
	}
	h.noSecrets(t)
}

func decodeBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s", resp.Status)
	}
	if err := jsonDecode(resp, v); err != nil {
		t.Fatal(err)
	}
}

func TestGuardsRefuse(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.login(t)
	m := h.info.Media[0]
	os.WriteFile(filepath.Join(h.root, "empty.mp4"), nil, 0o644)
	os.WriteFile(filepath.Join(h.root, "short.mp4"), []byte("\x00\x00\x00\x18ftypmp42 cut short"), 0o644)
	os.WriteFile(filepath.Join(h.root, "doc.mp4"), append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 8000)...), 0o644)
	for _, tc := range []struct{ file, code string }{{"empty.mp4", "Empty"}, {"short.mp4", "Truncated"}, {"doc.mp4", "NotMedia"}} {
		src := map[string]any{"media_id": m.MediaID, "source": map[string]string{"path": tc.file}}
		var pv ui.Preview
		if got := h.call(t, "POST", "/api/preview", src, &pv); got != 200 || len(pv.Problems) == 0 || pv.Problems[0].Code != tc.code {
			t.Errorf("preview %s: %d %+v", tc.file, got, pv)
		}
		if got := h.call(t, "POST", "/api/jobs", src, nil); got != http.StatusConflict {
			t.Errorf("start %s: %d, want 409", tc.file, got)
		}
	}
	if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
		t.Error("the source changed")
	}
}
