package reupload

import (
	"context"
	"log/slog"

	"github.com/reupload/reupload/refresh"
)

// scrubHandler is the handler behind Config.Logger as the Client uses it:
// every string in a record (message, attribute values, error texts, groups
// included) is scrubbed by value of the secrets the ICE client has held or
// received, and by shape (refresh.Scrub), before the caller's handler sees
// it. The packages below log no secret on purpose; this is the net under
// them, for the error texts of services and proxies that echo requests.
type scrubHandler struct {
	next    slog.Handler
	secrets func() *refresh.Secrets // nil result: scrub by shape only
}

func (h *scrubHandler) scrub(s string) string {
	if sec := h.secrets(); sec != nil {
		return sec.Scrub(s)
	}
	return refresh.Scrub(s)
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.scrub(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.scrub(err.Error()))
		}
		// Anything else is printed by the handler with fmt or JSON: scrub
		// that text rather than trust its type.
		return slog.String(a.Key, h.scrub(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *scrubHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &scrubHandler{next: h.next.WithAttrs(out), secrets: h.secrets}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}
