package reupload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reupload/reupload/internal/retry"
	"github.com/reupload/reupload/refresh"
)

// ErrNotConfirmed is wrapped by WaitForICE's error when ICE did not report
// the new file in time (ExitUnconfirmed): the object on OSS is replaced and
// verified, but ICE's view of the media has not caught up.
var ErrNotConfirmed = errors.New("ICE did not report the new file in time")

// DefaultWaitTimeout is how long WaitForICE waits when given 0.
const DefaultWaitTimeout = 10 * time.Minute

// Waits between GetMediaInfo calls of WaitForICE: doubling, capped.
const (
	waitFirst = time.Second
	waitCap   = 15 * time.Second
)

// WaitForICE polls GetMediaInfo (with backoff) until ICE reports the media's
// new source file, by one rule: the source file's FileSize equals newSize
// and differs from the size before the upload, or its ModifiedTime differs
// from the one before (before, as GetMediaInfo returned it before the
// upload; nil when unknown, in which case only the size can tell). Local
// and ICE clocks are never compared. What GetMediaInfo reports after an
// overwrite is not published by Alibaba Cloud: this rule is what the tool
// relies on.
//
// It returns ICE's view once it confirms, or, after timeout (0 means
// DefaultWaitTimeout), the last view and an error wrapping
// ErrNotConfirmed. Each wait is Config.Sleep; the deadline is read from
// Config.Now.
func (c *Client) WaitForICE(ctx context.Context, mediaID string, before *refresh.MediaInfo, newSize int64, timeout time.Duration) (*refresh.MediaInfo, error) {
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	var old refresh.FileInfo
	if before != nil {
		old, _ = before.Source()
	}
	deadline := c.now().Add(timeout)
	for attempt := 1; ; attempt++ {
		mi, err := c.ice.GetMediaInfo(ctx, mediaID)
		if err != nil {
			return nil, err
		}
		if confirmed(mi, old, before != nil, newSize) {
			return mi, nil
		}
		left := deadline.Sub(c.now())
		if left <= 0 {
			cur, _ := mi.Source()
			return mi, fmt.Errorf("%w: after %s it still reports %d bytes, status %s", ErrNotConfirmed, timeout, cur.FileSize, mi.Status)
		}
		if err := c.sleep(ctx, min(left, retry.Delay(waitFirst, waitCap, attempt, 1))); err != nil {
			return mi, err
		}
	}
}

// confirmed applies WaitForICE's rule.
func confirmed(mi *refresh.MediaInfo, old refresh.FileInfo, known bool, newSize int64) bool {
	cur, ok := mi.Source()
	if !ok {
		return false
	}
	if known && old.ModifiedTime != "" && cur.ModifiedTime != "" && cur.ModifiedTime != old.ModifiedTime {
		return true
	}
	return cur.FileSize == newSize && (!known || old.FileSize != newSize)
}

func (c *Client) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}
