package ui_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/ui"
)

// gate holds an upload after its first confirmed part until released, so
// that a test can pause or stop it mid-upload without racing it. It hooks
// the engine's part-done event, which the engine sends from the worker.
type gate struct {
	first   chan struct{} // closed at the first confirmed part
	release chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{first: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) event(e ossupload.Event) {
	if e.Kind != ossupload.EventPartDone {
		return
	}
	g.once.Do(func() {
		close(g.first)
		<-g.release
	})
}

func pauseHarness(t *testing.T, g *gate) *harness {
	h := newHarness(t, harnessOpts{em: emulator.Config{Media: 2},
		options: reupload.Options{PartSize: 100 << 10, Concurrency: 1, OnEvent: g.event}})
	h.login(t)
	return h
}

// pause pauses job id while the gate holds it: the stop is asked before
// the upload may go on.
func (h *harness) pause(t *testing.T, g *gate, id string) ui.Job {
	t.Helper()
	<-g.first
	if got := h.call(t, "POST", "/api/jobs/"+id+"/pause", nil, nil); got != 200 {
		t.Fatalf("pause: %d", got)
	}
	close(g.release)
	return h.waitState(t, id, ui.StatePaused)
}

type pendingList []struct {
	MediaID   string `json:"media_id"`
	Source    string
	Size      int64
	Confirmed int64
	Busy      bool
}

// TestPauseResume: Pause stops gracefully (the checkpoint is kept and the
// media is listed as unfinished), Resume continues from OSS's parts.
func TestPauseResume(t *testing.T) {
	g := newGate()
	h := pauseHarness(t, g)
	m := h.info.Media[0]
	data := h.mediaFile(t, "a.mp4", 1<<20)
	var j jobStart
	if got := h.call(t, "POST", "/api/jobs", map[string]any{"media_id": m.MediaID, "source": map[string]string{"path": "a.mp4"}}, &j); got != http.StatusAccepted {
		t.Fatalf("start: %d", got)
	}
	<-g.first
	if got := h.call(t, "POST", "/api/jobs", map[string]any{"media_id": m.MediaID, "source": map[string]string{"path": "a.mp4"}}, nil); got != http.StatusConflict {
		t.Errorf("a second upload of a busy media: %d, want 409", got)
	}
	p := h.pause(t, g, j.ID)
	if p.Progress.Done == 0 || p.Progress.Done >= int64(len(data)) {
		t.Errorf("paused at %+v", p.Progress)
	}
	if !bytes.Equal(h.object(t, m), emulator.OldSource(m.MediaID)) {
		t.Error("a paused upload changed the source")
	}
	var pl pendingList
	h.call(t, "GET", "/api/pending", nil, &pl)
	if len(pl) != 1 || pl[0].MediaID != m.MediaID || pl[0].Source != "a.mp4" || pl[0].Busy || pl[0].Size != int64(len(data)) {
		t.Fatalf("pending: %+v", pl)
	}
	if got := h.call(t, "POST", "/api/jobs/"+j.ID+"/resume", nil, nil); got != http.StatusAccepted {
		t.Fatalf("resume: %d", got)
	}
	d := h.waitState(t, j.ID, ui.StateDone)
	if !strings.Contains(d.Message, "Replaced") || !strings.Contains(d.Message, "resumed with") || d.Progress.Reused == 0 {
		t.Errorf("done: %+v", d)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Error("OSS does not hold the new file")
	}
	h.call(t, "GET", "/api/pending", nil, &pl)
	if len(pl) != 0 {
		t.Errorf("pending after done: %+v", pl)
	}
	h.noSecrets(t)
}

// TestRestartResumes: stopping the server (SIGINT) pauses running uploads;
// a new server on the same state dir lists them and resumes or aborts them.
func TestRestartResumes(t *testing.T) {
	g := newGate()
	h := pauseHarness(t, g)
	m, m2 := h.info.Media[0], h.info.Media[1]
	data := h.mediaFile(t, "dir/a.mp4", 1<<20)
	var j jobStart
	h.call(t, "POST", "/api/jobs", map[string]any{"media_id": m.MediaID, "source": map[string]string{"path": "dir/a.mp4"}}, &j)
	<-g.first
	stopped := make(chan struct{})
	go func() { h.stop(t); close(stopped) }() // as SIGINT: the job stops gracefully
	h.waitState(t, j.ID, ui.StatePausing)
	close(g.release)
	<-stopped

	h.start(t) // a new `reupload ui` on the same state dir
	h.login(t)
	var pl pendingList
	h.call(t, "GET", "/api/pending", nil, &pl)
	if len(pl) != 1 || pl[0].MediaID != m.MediaID || pl[0].Source != "dir/a.mp4" || pl[0].Confirmed == 0 {
		t.Fatalf("pending after a restart: %+v", pl)
	}
	if got := h.call(t, "POST", "/api/pending/"+m.MediaID+"/resume", nil, &j); got != http.StatusAccepted {
		t.Fatalf("resume: %d", got)
	}
	if d := h.waitState(t, j.ID, ui.StateDone); !strings.Contains(d.Message, "resumed with") {
		t.Errorf("done: %+v", d)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Error("OSS does not hold the new file")
	}

	// Abort: an unfinished upload of m2, aborted from the list.
	h.mediaFile(t, "b.mp4", 1<<20)
	g2 := newGate()
	h.opts.options.OnEvent = g2.event
	h.stop(t)
	h.start(t)
	h.login(t)
	h.call(t, "POST", "/api/jobs", map[string]any{"media_id": m2.MediaID, "source": map[string]string{"path": "b.mp4"}}, &j)
	h.pause(t, g2, j.ID)
	if n := len(h.em.OSS.Uploads(m2.Bucket)); n != 1 {
		t.Fatalf("%d multipart uploads on OSS, want 1", n)
	}
	if got := h.call(t, "POST", "/api/pending/"+m2.MediaID+"/abort", nil, nil); got != 200 {
		t.Fatalf("abort: %d", got)
	}
	if n := len(h.em.OSS.Uploads(m2.Bucket)); n != 0 {
		t.Errorf("%d multipart uploads on OSS after Abort", n)
	}
	h.call(t, "GET", "/api/pending", nil, &pl)
	if len(pl) != 0 {
		t.Errorf("pending after abort: %+v", pl)
	}
	if !bytes.Equal(h.object(t, m2), emulator.OldSource(m2.MediaID)) {
		t.Error("abort changed the source")
	}
	h.noSecrets(t)
}
