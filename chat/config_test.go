package chat

import (
	"context"
	"crypto/rand"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Limits != DefaultLimits() || c.Clock == nil || c.Logger == nil {
		t.Fatalf("zero Config with defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	// A Limits that is not zero is kept as given: a rate of 0 or less
	// there means no limit.
	off := Limits{AuthorRate: -1}
	if got := (Config{Limits: off}).withDefaults().Limits; got != off {
		t.Fatalf("Limits %+v became %+v", off, got)
	}
	if d := DefaultConfig(); d.Limits != DefaultLimits() || d.Clock == nil {
		t.Fatalf("DefaultConfig: %+v", d)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		lim  Limits
		want string
	}{
		{"NaN author rate", Limits{AuthorRate: math.NaN()}, "AuthorRate"},
		{"NaN peer rate", Limits{PeerRate: math.NaN()}, "PeerRate"},
		{"negative burst", Limits{AuthorRate: 1, AuthorBurst: -1}, "burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Config{Limits: tc.lim}.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
			key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
			if s, err := New(nil, dssync.MutexWrap(ds.NewMapDatastore()), key, Config{Limits: tc.lim}); err == nil {
				s.Close()
				t.Fatal("New accepted a bad config")
			} else if !strings.HasPrefix(err.Error(), "chat: config: ") {
				t.Fatalf("New: %v, want a chat: config: error", err)
			}
		})
	}
}

// The service tags its own lines: a caller passes an untagged logger, and
// every line carries subsystem=chat exactly once.
func TestLoggerTagsSubsystem(t *testing.T) {
	h := &attrCapture{mu: &sync.Mutex{}, last: new([]slog.Attr)}
	s := localService(t, Config{Logger: slog.New(h)})
	s.log.Info("probe")
	if got := h.values("subsystem"); len(got) != 1 || got[0] != "chat" {
		t.Fatalf("subsystem attributes %q, want exactly [chat]", got)
	}
}

// attrCapture records the attributes of the last line logged, including
// those added with With.
type attrCapture struct {
	mu    *sync.Mutex
	attrs []slog.Attr
	last  *[]slog.Attr
}

func (h *attrCapture) Enabled(context.Context, slog.Level) bool { return true }

func (h *attrCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	all := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool { all = append(all, a); return true })
	*h.last = all
	return nil
}

func (h *attrCapture) WithAttrs(as []slog.Attr) slog.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &attrCapture{mu: h.mu, attrs: append(append([]slog.Attr(nil), h.attrs...), as...), last: h.last}
}

func (h *attrCapture) WithGroup(string) slog.Handler { return h }

// values returns the values of key in the last line logged.
func (h *attrCapture) values(key string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range *h.last {
		if a.Key == key {
			out = append(out, a.Value.String())
		}
	}
	return out
}
