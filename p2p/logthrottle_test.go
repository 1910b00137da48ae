package p2p

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A warning repeated per message is written once per window, then again
// with the count of what was suppressed; other levels and other warnings
// pass.
func TestThrottleRepeatedWarnings(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	th := newThrottle(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), time.Minute)
	th.now = func() time.Time { return now }
	log := slog.New(th).With("component", "pubsub")
	for range 1000 {
		log.Warn("error bumping delivery tag", "err", "queue full")
	}
	log.Warn("another warning")
	log.Info("info passes")
	log.Error("errors pass")
	log.Error("errors pass")
	now = now.Add(time.Minute)
	log.Warn("error bumping delivery tag", "err", "queue full")

	out := buf.String()
	if n := strings.Count(out, "error bumping delivery tag"); n != 2 {
		t.Fatalf("repeated warning written %d times, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "suppressed_since_last=999") {
		t.Fatalf("no suppressed count:\n%s", out)
	}
	for _, want := range []string{"another warning", "info passes", "component=pubsub"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "errors pass"); n != 2 {
		t.Fatalf("errors written %d times, want 2", n)
	}
}
