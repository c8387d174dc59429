package ui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
)

// Job states, as the page shows them.
const (
	StateQueued     = "queued"
	StateRunning    = "running"
	StatePausing    = "pausing" // Pause asked; parts in flight are finishing
	StatePaused     = "paused"  // stopped gracefully; the checkpoint is kept
	StateConfirming = "confirming"
	StateDone       = "done"
	StateUnchanged  = "unchanged" // OSS already held the file: nothing to do
	StateFailed     = "failed"
)

// Job is one replacement the page started (or resumed) in this session.
// It is what the page receives, so it holds nothing secret: the source path
// stays on the server.
type Job struct {
	ID       string   `json:"id"`
	MediaID  string   `json:"media_id"`
	Title    string   `json:"title"`
	Source   string   `json:"source"` // as the page shows it
	State    string   `json:"state"`
	Progress Progress `json:"progress"`
	Message  string   `json:"message,omitempty"`
	Code     string   `json:"code,omitempty"`
	// Set once done.
	CRC64        string `json:"crc64,omitempty"`
	UploadID     string `json:"upload_id,omitempty"`
	ICERequestID string `json:"ice_request_id,omitempty"`
	RequestID    string `json:"request_id,omitempty"` // of a failure
	Version      int64  `json:"version"`

	path    string
	cleanup func() // after done or unchanged: removes a spooled file
	stop    chan struct{}
	before  *refresh.MediaInfo
}

// active reports whether the job holds its media.
func (j *Job) active() bool {
	switch j.State {
	case StateQueued, StateRunning, StatePausing, StateConfirming:
		return true
	}
	return false
}

// jobs runs uploads, at most files at once, and tells subscribers (the
// event streams) about every change.
type jobs struct {
	b      Backend
	logger *slog.Logger
	sem    chan struct{}
	ctx    context.Context // cancelled when a graceful stop took too long
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	order   []*Job
	byID    map[string]*Job
	seq     int64
	subs    map[chan struct{}]struct{}
	stopped bool
	quit    chan struct{} // closed once stopAll has stopped every job
}

func newJobs(b Backend, files int, logger *slog.Logger) *jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobs{b: b, logger: logger, sem: make(chan struct{}, files), ctx: ctx, cancel: cancel,
		byID: map[string]*Job{}, subs: map[chan struct{}]struct{}{}, quit: make(chan struct{})}
}

// errBusy: the media already has an upload running in this session.
var errBusy = errors.New("this media is already being replaced")

// errStopping: the server is shutting down.
var errStopping = errors.New("reupload ui is stopping")

// start queues a replacement of mediaID by path and returns a copy of its
// job, taken under the lock: the job's goroutine updates it at once. A
// paused or failed job of the same media is reused (its row continues), so
// Resume keeps one row.
func (js *jobs) start(mediaID, title, display, path string, before *refresh.MediaInfo, cleanup func()) (Job, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.stopped {
		return Job{}, errStopping
	}
	var j *Job
	for _, o := range js.order {
		if o.MediaID != mediaID {
			continue
		}
		if o.active() {
			return Job{}, errBusy
		}
		if (o.State == StatePaused || o.State == StateFailed) && o.path == path {
			j = o
		}
	}
	if j == nil {
		j = &Job{ID: randID(), MediaID: mediaID}
		js.order = append(js.order, j)
		js.byID[j.ID] = j
	}
	j.Title, j.Source, j.path, j.before, j.cleanup = title, display, path, before, cleanup
	j.State, j.Message, j.Code, j.RequestID = StateQueued, "", "", ""
	j.stop = make(chan struct{})
	js.changedLocked(j)
	js.wg.Add(1)
	go js.run(j, j.stop)
	return *j, nil
}

func (js *jobs) run(j *Job, stop chan struct{}) {
	defer js.wg.Done()
	select {
	case js.sem <- struct{}{}:
	case <-stop:
		js.update(j, func(j *Job) { j.State, j.Message = StatePaused, "paused before it started" })
		return
	}
	defer func() { <-js.sem }()
	js.update(j, func(j *Job) { j.State = StateRunning })
	res, err := js.b.Replace(js.ctx, j.MediaID, j.path, ReplaceOptions{Stop: stop, OnProgress: func(p Progress) {
		js.update(j, func(j *Job) {
			if p.Done >= j.Progress.Done || p.Total != j.Progress.Total { // calls may race; never go backwards
				p.ETASecs = p.ETA.Seconds()
				j.Progress = p
			}
		})
	}})
	switch {
	case errors.Is(err, ossupload.ErrStopped) || (err != nil && isClosed(stop)):
		js.update(j, func(j *Job) {
			j.State, j.Message = StatePaused, "Paused: the parts OSS holds and the checkpoint are kept; Resume continues from there"
		})
		return
	case err != nil:
		js.fail(j, err)
		return
	case res.Unchanged:
		js.update(j, func(j *Job) {
			j.State = StateUnchanged
			j.CRC64 = res.CRC64
			j.Progress.Done, j.Progress.Total = res.Size, res.Size
			j.Message = fmt.Sprintf("Nothing to do: the media's source already is this file (%d bytes, CRC-64 %s)", res.Size, res.CRC64)
		})
		j.runCleanup()
		return
	}
	js.update(j, func(j *Job) {
		j.State, j.CRC64, j.UploadID = StateConfirming, res.CRC64, res.UploadID
		j.Progress.Done, j.Progress.Total = res.Size, res.Size
		j.Progress.Refreshes = res.Refreshes
		j.Message = "Uploaded; waiting for ICE to show the new file"
	})
	j.runCleanup()
	mi, err := js.b.WaitForICE(js.ctx, j.MediaID, j.before, res.Size)
	reqID := ""
	if mi != nil {
		reqID = mi.RequestID
	}
	js.update(j, func(j *Job) {
		j.State, j.ICERequestID = StateDone, reqID
		j.Message = fmt.Sprintf("Replaced: %d bytes in %d part(s), CRC-64 %s, upload id %s, %d credential refresh(es)",
			res.Size, res.Parts, res.CRC64, res.UploadID, res.Refreshes)
		if res.Resumed {
			j.Message += fmt.Sprintf(", resumed with %d part(s) already on OSS", res.PartsReused)
		}
		switch {
		case err == nil:
			j.Message += fmt.Sprintf("; ICE confirms the new source (status %s, GetMediaInfo request id %s)", mi.Status, reqID)
		default:
			j.Message += "; ICE did not confirm yet: " + js.b.Scrub(err.Error())
		}
	})
}

func (j *Job) runCleanup() {
	if j.cleanup != nil {
		j.cleanup()
	}
}

func (js *jobs) fail(j *Job, err error) {
	code, reqID := reupload.ErrorCode(err)
	js.update(j, func(j *Job) {
		j.State, j.Code, j.RequestID = StateFailed, code, reqID
		j.Message = "Failed: " + js.b.Scrub(err.Error())
	})
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// pause asks job id to stop gracefully.
func (js *jobs) pause(id string) (*Job, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j := js.byID[id]
	if j == nil {
		return nil, errNoJob
	}
	if j.State != StateQueued && j.State != StateRunning {
		return nil, fmt.Errorf("the upload is %s, not running", j.State)
	}
	close(j.stop)
	j.State = StatePausing
	js.changedLocked(j)
	return j, nil
}

var errNoJob = errors.New("no such upload in this session")

func (js *jobs) get(id string) (Job, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j := js.byID[id]
	if j == nil {
		return Job{}, false
	}
	return *j, true
}

// busy reports whether mediaID has an active job.
func (js *jobs) busy(mediaID string) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	for _, j := range js.order {
		if j.MediaID == mediaID && j.active() {
			return true
		}
	}
	return false
}

func (js *jobs) update(j *Job, f func(*Job)) {
	js.mu.Lock()
	defer js.mu.Unlock()
	f(j)
	js.changedLocked(j)
}

func (js *jobs) changedLocked(j *Job) {
	js.seq++
	j.Version = js.seq
	for c := range js.subs {
		select {
		case c <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// since returns copies of the jobs changed after version v, in start order,
// and the current version.
func (js *jobs) since(v int64) ([]Job, int64) {
	js.mu.Lock()
	defer js.mu.Unlock()
	var out []Job
	for _, j := range js.order {
		if j.Version > v {
			out = append(out, *j)
		}
	}
	return out, js.seq
}

func (js *jobs) subscribe() (chan struct{}, func()) {
	c := make(chan struct{}, 1)
	js.mu.Lock()
	js.subs[c] = struct{}{}
	js.mu.Unlock()
	return c, func() {
		js.mu.Lock()
		delete(js.subs, c)
		js.mu.Unlock()
	}
}

// stopAll pauses every job and refuses new ones, then waits for the jobs
// to end; when ctx ends first, the uploads are cancelled (their checkpoints
// are kept all the same).
func (js *jobs) stopAll(ctx context.Context) error {
	js.mu.Lock()
	js.stopped = true
	for _, j := range js.order {
		if j.State == StateQueued || j.State == StateRunning {
			close(j.stop)
			j.State = StatePausing
			js.changedLocked(j)
		}
	}
	js.mu.Unlock()
	done := make(chan struct{})
	go func() { js.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	js.cancel()
	<-done
	js.mu.Lock()
	if !isClosed(js.quit) {
		close(js.quit)
	}
	js.mu.Unlock()
	return err
}

func randID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
