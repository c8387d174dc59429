package osstest

import (
	"context"
	"io"
	"net"
	"net/http"

	"golang.org/x/time/rate"
)

type connLimiterKey struct{}

// newLimiter allows bps bytes a second in bursts of about 1/10 s (at most
// 256 KiB), so a body is paced smoothly rather than in one-second steps.
func newLimiter(bps int64) *rate.Limiter {
	burst := min(max(bps/10, 1), 256<<10)
	return rate.NewLimiter(rate.Limit(bps), int(burst))
}

// connContext gives each connection its own limiter when ConnBandwidth is set.
func (s *Server) connContext(ctx context.Context, _ net.Conn) context.Context {
	if s.connBW > 0 {
		return context.WithValue(ctx, connLimiterKey{}, newLimiter(s.connBW))
	}
	return ctx
}

// throttle paces the request body by the connection's and the server's limiters.
func (s *Server) throttle(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	var ls []*rate.Limiter
	if l, ok := r.Context().Value(connLimiterKey{}).(*rate.Limiter); ok {
		ls = append(ls, l)
	}
	if s.total != nil {
		ls = append(ls, s.total)
	}
	if len(ls) == 0 {
		return
	}
	chunk := ls[0].Burst()
	for _, l := range ls[1:] {
		chunk = min(chunk, l.Burst())
	}
	r.Body = &throttledBody{ReadCloser: r.Body, ctx: r.Context(), ls: ls, chunk: chunk}
}

type throttledBody struct {
	io.ReadCloser
	ctx   context.Context
	ls    []*rate.Limiter
	chunk int
}

func (t *throttledBody) Read(p []byte) (int, error) {
	if len(p) > t.chunk {
		p = p[:t.chunk]
	}
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		for _, l := range t.ls {
			if werr := l.WaitN(t.ctx, n); werr != nil {
				return n, werr
			}
		}
	}
	return n, err
}
