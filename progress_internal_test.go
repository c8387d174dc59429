package reupload

import (
	"testing"
	"time"
)

// The tracker's snapshots: resumed bytes count as done but never as speed,
// bytes of a failed attempt are taken back, calls come at most every
// 100 ms (forced ones aside), and the last one says Final.
func TestTrackerIsHonest(t *testing.T) {
	now := time.Unix(1000, 0)
	var got []ProgressInfo
	tr := newTracker(nil, func(p ProgressInfo) { got = append(got, p) }, func() time.Time { return now }, 10)
	tr.Start(100, 35) // parts of 10: 35 reused bytes are 3 parts and a short last one
	if p := got[0]; p.Done != 35 || p.Reused != 35 || p.Rate != 0 || p.Parts != 10 || p.PartsDone != 4 {
		t.Fatalf("first snapshot %+v", p)
	}
	now = now.Add(time.Second)
	tr.PartSent(5, 6)
	tr.PartSent(5, -6) // the attempt failed
	now = now.Add(time.Second)
	tr.PartSent(5, 10)
	tr.PartDone(5, 10) // throttled: within 100 ms of the last call
	now = now.Add(progressEvery)
	tr.PartSent(6, 1)
	last := got[len(got)-1]
	if last.Sent != 46 || last.Done != 45 || last.InFlight != 1 || last.PartsDone != 5 {
		t.Fatalf("after part 5: %+v", last)
	}
	if last.Rate != 11/2.1 { // 11 bytes of this run in 2.1 s; the 35 reused are not speed
		t.Fatalf("rate %v, want 11 bytes in 2.1 s", last.Rate)
	}
	if last.ETA != 10*time.Second {
		t.Fatalf("ETA %v, want 10s (54 bytes at 5.24/s, rounded)", last.ETA)
	}
	n := len(got)
	for range 50 {
		tr.PartSent(6, 0) // within the same instant: throttled
	}
	if len(got) != n {
		t.Fatalf("%d snapshots within one instant", len(got)-n)
	}
	tr.finish()
	if !got[len(got)-1].Final {
		t.Fatal("no final snapshot")
	}
}

// Rate follows the last rateWindow, so a link that slows down shows its
// new speed within seconds, not averaged with the whole run.
func TestTrackerRateFollowsTheLink(t *testing.T) {
	now := time.Unix(1000, 0)
	var last ProgressInfo
	tr := newTracker(nil, func(p ProgressInfo) { last = p }, func() time.Time { return now }, 1<<20)
	tr.Start(1<<30, 0)
	for i := 0; i < 100; i++ { // 10 s at 1000 B/s
		now = now.Add(progressEvery)
		tr.PartSent(1, 100)
	}
	if last.Rate < 990 || last.Rate > 1010 {
		t.Fatalf("rate %v, want ~1000 B/s", last.Rate)
	}
	for i := 0; i < 100; i++ { // then 10 s at 10 B/s
		now = now.Add(progressEvery)
		tr.PartSent(1, 1)
	}
	if last.Rate < 9 || last.Rate > 11 {
		t.Fatalf("rate %v after the link slowed, want ~10 B/s (the whole run averages ~505)", last.Rate)
	}
}
