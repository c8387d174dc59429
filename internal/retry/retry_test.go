package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	const base, limit = 250 * time.Millisecond, 8 * time.Second
	for _, tc := range []struct {
		attempt  int
		r        float64
		min, max time.Duration
	}{
		{1, 0, 125 * time.Millisecond, 125 * time.Millisecond},
		{1, 1, 250 * time.Millisecond, 250 * time.Millisecond},
		{3, 0.5, 750 * time.Millisecond, 750 * time.Millisecond},
		{6, 1, limit, limit}, // 8 s exactly: the cap
		{7, 0, limit / 2, limit / 2},
		{64, 1, limit, limit}, // no shift overflow
	} {
		if got := Delay(base, limit, tc.attempt, tc.r); got < tc.min || got > tc.max {
			t.Errorf("Delay(attempt %d, r %v) = %v, want %v..%v", tc.attempt, tc.r, got, tc.min, tc.max)
		}
	}
}

// A base so large that doubling it overflows still gives the cap.
func TestDelayLargeBase(t *testing.T) {
	if got := Delay(time.Hour, 2*time.Hour, 40, 1); got != 2*time.Hour {
		t.Fatalf("Delay = %v, want the 2h cap", got)
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("stop")
	cancel(cause)
	if err := Sleep(ctx, time.Hour); !errors.Is(err, cause) {
		t.Fatalf("Sleep = %v, want the context's cause", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
}
