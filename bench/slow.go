//go:build unix

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// slowCases runs the engine on the slow links: every setting once to the
// end (total time, time to the first confirmed part), then the auto setting
// and the old fixed 16 in flight killed with SIGKILL at kills random moments
// each, counting the part bytes the server read but holds in no part: what
// the kill lost.
func (b *bench) slowCases(ctx context.Context, res *results, size int64, kills int) error {
	path, err := b.file(size)
	if err != nil {
		return err
	}
	res.SlowSize = size
	rng := rand.New(rand.NewPCG(16, 2)) // the same moments every run
	for _, link := range []struct {
		name string
		e    *env
		jobs []int
	}{
		{fmt.Sprintf("%d MiB/s total", slowBandwidth/mib), b.slow, []int{1, 4, 16}},
		{"WAN", b.wan, []int{2, 16}},
	} {
		for _, j := range append([]int{0}, link.jobs...) {
			a := childArgs{Role: roleEngine, File: path, Size: size}
			label := "auto (zero Options)"
			if j > 0 {
				a.PartSize, a.Jobs, label = partSize, j, fmt.Sprintf("fixed j=%d, 8 MiB parts", j)
			}
			b.logf("slow %s engine %s %s", link.name, label, sizeName(size))
			m, err := b.spawn(ctx, link.e, a, nil)
			if err != nil {
				return err
			}
			row := slowRow{Link: link.name, Label: label, Jobs: j, Run: m, FirstPart: m.FirstPart}
			if j == 0 || j == 16 {
				for k := range kills {
					// A moment inside the run: 5 % to 95 % of its length.
					at := time.Duration((0.05 + 0.9*rng.Float64()) * m.Wall * float64(time.Second))
					b.seq++
					a.Key = fmt.Sprintf("kill-%04d", b.seq)
					b.logf("slow %s %s: kill %d at %v", link.name, label, k+1, at.Round(time.Millisecond))
					s, err := b.killSample(ctx, link.e, a, at)
					if err != nil {
						return err
					}
					row.Kills = append(row.Kills, s)
					row.MeanLost += float64(s.Received-s.Kept) / float64(kills)
				}
				a.Key = ""
			}
			res.Slow = append(res.Slow, row)
		}
	}
	return nil
}

// killSample kills a's child at the moment at, waits until the server has
// answered every request it began, and reads what OSS holds of the upload.
func (b *bench) killSample(ctx context.Context, e *env, a childArgs, at time.Duration) (killSample, error) {
	before := e.srv.Stats()
	m, err := b.spawn(ctx, e, a, after(at))
	if err != nil {
		return killSample{}, err
	}
	if !m.Killed {
		return killSample{At: at.Seconds(), Received: m.Received, Kept: m.Received}, nil
	}
	// The killed parts' handlers end when they read EOF; wait until every
	// request the server counted has been answered (logged), so a part whose
	// body had arrived is counted as kept.
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(30 * time.Second)
	for {
		started := 0
		for k, v := range e.srv.Stats().Requests {
			started += v - before.Requests[k]
		}
		if sp, _ := b.spans.get(a.Key); sp.done >= started {
			break
		}
		select {
		case <-t.C:
		case <-deadline:
			return killSample{}, fmt.Errorf("kill sample %s: the server did not answer every request within 30 s", a.Key)
		case <-ctx.Done():
			return killSample{}, ctx.Err()
		}
	}
	s := killSample{At: at.Seconds(), Received: e.srv.Stats().PartBytesReceived - before.PartBytesReceived}
	for _, u := range e.srv.Uploads(bucketName) {
		if u.Key == a.Key {
			s.Kept += u.Bytes
		}
	}
	return s, nil
}
