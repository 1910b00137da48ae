package rpc_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parley-chat/parley/rpc"
)

// recordHandler keeps every log record's attributes, the logger's own
// (With) and the record's, as "key=value" lists.
type recordHandler struct {
	mu    *sync.Mutex
	attrs []slog.Attr
	recs  *[][]string
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	var kv []string
	for _, a := range h.attrs {
		kv = append(kv, a.String())
	}
	r.Attrs(func(a slog.Attr) bool { kv = append(kv, a.String()); return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, append(kv, "msg="+r.Message))
	h.mu.Unlock()
	return nil
}

func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clone(h.attrs), as...)
	return h
}

func (h recordHandler) WithGroup(string) slog.Handler { return h }

// Every line the server logs carries subsystem=rpc, once, though the
// caller passes an untagged logger.
func TestLogsTagSubsystem(t *testing.T) {
	var mu sync.Mutex
	var recs [][]string
	ts := startServer(t, func(c *rpc.Config) { c.Logger = slog.New(recordHandler{mu: &mu, recs: &recs}) })
	ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"node_info","params":[]}`)
	ts.post(t, `{`, nil)
	ts.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(recs) < 3 {
		t.Fatalf("only %d log lines: %v", len(recs), recs)
	}
	for _, kv := range recs {
		n := 0
		for _, a := range kv {
			if strings.HasPrefix(a, "subsystem=") {
				n++
				if a != "subsystem=rpc" {
					t.Errorf("line %v: %s", kv, a)
				}
			}
		}
		if n != 1 {
			t.Errorf("line %v has %d subsystem keys, want 1", kv, n)
		}
	}
}
