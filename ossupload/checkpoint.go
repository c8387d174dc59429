package ossupload

// The checkpoint saver: confirmed parts are recorded at once and written
// to the StateStore at most every checkpointEvery, off the workers' path.

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/reupload/reupload/resume"
)

func (st *state) sortedParts() []resume.Part {
	ps := make([]resume.Part, 0, len(st.done))
	for _, p := range st.done {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b resume.Part) int { return a.Number - b.Number })
	return ps
}

// checkpointEvery spaces checkpoint writes. The checkpoint is a hint (on
// resume ListParts is the truth, and a listed part the checkpoint missed is
// adopted when its ETag is the MD5 of the local bytes), so writing it after
// every part would only cost: one fsync per part on a worker's path, and a
// JSON file that grows with the parts, written once per part (quadratic).
const checkpointEvery = time.Second

// record notes a confirmed part and, at most every checkpointEvery, saves
// the checkpoint on a goroutine of its own so that no worker waits for the
// disk. Saves never overlap: while one runs, others only mark the state
// dirty, and the saver loops until it is clean.
func (st *state) record(p resume.Part) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.done[p.Number] = p
	st.dirty = true
	if st.saving || st.run.opts.State == nil || st.run.opts.Now().Sub(st.lastSave) < checkpointEvery {
		return
	}
	st.saving = true
	st.saves.Add(1)
	go func() {
		defer st.saves.Done()
		st.saveLoop()
	}()
}

func (st *state) saveLoop() {
	for {
		st.mu.Lock()
		if !st.dirty {
			st.saving = false
			st.mu.Unlock()
			return
		}
		st.dirty = false
		cp := *st.cp
		cp.Parts = st.sortedParts()
		cp.Updated = st.run.opts.Now()
		st.lastSave = cp.Updated
		st.mu.Unlock()
		st.run.saved(&cp, st.run.opts.State.Save(&cp))
	}
}

// flush waits for a save in progress, then writes what it has not.
func (st *state) flush() {
	st.saves.Wait()
	if st.cp == nil || st.run.opts.State == nil || st.completed {
		return
	}
	st.mu.Lock()
	if !st.dirty {
		st.mu.Unlock()
		return
	}
	st.saving = true
	st.mu.Unlock()
	st.saveLoop()
}

// saved reports a checkpoint write: an EventCheckpointKO when it failed,
// and a debug log line either way.
func (r *run) saved(cp *resume.Checkpoint, err error) {
	if err != nil {
		r.opts.OnEvent(Event{Kind: EventCheckpointKO, Err: err})
		r.opts.Logger.LogAttrs(context.Background(), slog.LevelDebug, "checkpoint save failed", slog.String("upload_id", cp.UploadID), slog.String("error", err.Error()))
		return
	}
	r.opts.Logger.LogAttrs(context.Background(), slog.LevelDebug, "checkpoint saved", slog.String("upload_id", cp.UploadID), slog.Int("parts", len(cp.Parts)))
}
