// Package retry is the wait between attempts that the ICE client (refresh)
// and the upload engine (ossupload) share, so that neither imports the
// other for it.
package retry

import (
	"context"
	"time"
)

// Delay is capped exponential backoff with "equal jitter": before retry
// number attempt (1-based) it waits base·2^(attempt-1), at most limit, of
// which half is fixed and half scaled by r in [0, 1]. The fixed half means a
// retry never fires at once; the random half keeps many failing callers
// from retrying in lockstep. An attempt below 1 counts as 1 and r is
// clamped to [0, 1], so no argument makes it panic or go negative.
func Delay(base, limit time.Duration, attempt int, r float64) time.Duration {
	attempt = max(attempt, 1)
	if !(r >= 0) { // also NaN
		r = 0
	}
	r = min(r, 1)
	d := limit
	if attempt < 64 && base <= limit>>(attempt-1) { // base·2^(attempt-1) ≤ limit, without overflow
		d = base << (attempt - 1)
	}
	return time.Duration(float64(d) * (0.5 + r/2))
}

// Sleep waits for d or until ctx is done, whichever comes first, and then
// returns nil or the context's cause.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
