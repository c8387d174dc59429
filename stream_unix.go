//go:build unix

package reupload

import (
	"context"
	"os"
	"syscall"
	"time"
)

// openStream opens a pipe or device for reading without letting open(2)
// hold up cancellation: opening a FIFO blocks until a writer opens it, so
// the open runs on its own goroutine, and a cancelled ctx (or a closed
// stop) wakes it by opening the FIFO's write end without blocking, then
// closes whatever it opened, so no goroutine is left behind.
func openStream(ctx context.Context, stop <-chan struct{}, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	var err error
	select {
	case o := <-ch:
		return o.f, o.err
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-stop:
		err = context.Canceled
	}
	// The goroutine may not have reached open(2) yet, and a FIFO's write end
	// opens without blocking only while a reader waits: knock until it is
	// out, for a second at most (a FIFO removed meanwhile cannot be reached
	// by its path; its goroutine then ends with the process).
	for range 100 {
		if w, werr := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
			w.Close()
		}
		select {
		case o := <-ch:
			if o.f != nil {
				o.f.Close()
			}
			return nil, err
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil, err
}
