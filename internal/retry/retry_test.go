package retry

import (
	"context"
	"errors"
	"math"
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
		{64, 1, limit, limit},                                   // no shift overflow
		{0, 1, 250 * time.Millisecond, 250 * time.Millisecond},  // attempt 0 is attempt 1, not a negative shift
		{-5, 0, 125 * time.Millisecond, 125 * time.Millisecond}, // so is any attempt below 1
		{2, -1, 250 * time.Millisecond, 250 * time.Millisecond}, // r below 0 is 0
		{2, 7, 500 * time.Millisecond, 500 * time.Millisecond},  // r above 1 is 1
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

func TestDelayNaN(t *testing.T) {
	if got := Delay(time.Second, time.Minute, 1, math.NaN()); got != time.Second/2 {
		t.Fatalf("Delay(r NaN) = %v, want the fixed half, 500ms", got)
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
