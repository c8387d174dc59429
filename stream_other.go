//go:build !unix

package reupload

import (
	"context"
	"os"
)

// openStream opens a pipe or device for reading. Named pipes here do not
// block their reader's open waiting for a writer, so a plain open serves.
func openStream(ctx context.Context, _ <-chan struct{}, path string) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return os.Open(path)
}
