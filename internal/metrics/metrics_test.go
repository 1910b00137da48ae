package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/metrics"
)

// A nil *Metrics is the "metrics off" sink: every method is a no-op.
func TestNilIsNoop(t *testing.T) {
	var m *metrics.Metrics
	m.MessageSent()
	m.MessageReceived()
	m.MessageRejected("invalid")
	m.SyncSession(metrics.Session{Outbound: true, Result: "ok", EventsReceived: 1})
	m.WatchLedger(func(context.Context, func(string, uint64)) error { return nil })
	m.RPCMethod("node_info").Observe(0, time.Millisecond)
	if m.Registerer() != nil || m.Gatherer() != nil {
		t.Fatal("nil Metrics has a registry")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("nil Metrics handler: status %d, want 404", rec.Code)
	}
}

// Each Metrics has its own registry: two in one process do not collide,
// and counts do not leak from one to the other.
func TestSeparateRegistries(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.MessageSent()
	a.MessageSent()
	b.MessageSent()
	for _, tc := range []struct {
		m    *metrics.Metrics
		want string
	}{{a, "parley_messages_sent_total 2"}, {b, "parley_messages_sent_total 1"}} {
		if body := scrape(t, tc.m); !strings.Contains(body, tc.want) {
			t.Errorf("want %q in:\n%s", tc.want, body)
		}
	}
}

func TestExposition(t *testing.T) {
	m := metrics.New()
	m.MessageReceived()
	m.MessageRejected("rate_limited")
	m.MessageRejected("something_new")
	m.SyncSession(metrics.Session{Outbound: true, Result: "ok", EventsReceived: 5, EventsStored: 3, BytesSent: 100, BytesReceived: 2000})
	m.SyncSession(metrics.Session{Result: "busy", BytesSent: 10})
	r := m.RPCMethod("msg_send")
	r.Observe(0, 2*time.Millisecond)
	r.Observe(-32002, time.Millisecond)
	m.WatchLedger(func(_ context.Context, yield func(string, uint64)) error {
		yield("room-a", 7)
		yield("room-b", 0)
		return nil
	})
	body := scrape(t, m)
	for _, want := range []string{
		"parley_messages_received_total 1",
		`parley_messages_rejected_total{reason="rate_limited"} 1`,
		`parley_messages_rejected_total{reason="invalid"} 0`,
		`parley_messages_rejected_total{reason="something_new"} 1`,
		`parley_sync_sessions_total{direction="outbound",result="ok"} 1`,
		`parley_sync_sessions_total{direction="inbound",result="busy"} 1`,
		"parley_sync_events_received_total 5",
		"parley_sync_events_stored_total 3",
		`parley_sync_bytes_total{direction="sent"} 110`,
		`parley_sync_bytes_total{direction="received"} 2000`,
		`parley_rpc_calls_total{code="0",method="msg_send"} 1`,
		`parley_rpc_calls_total{code="-32002",method="msg_send"} 1`,
		`parley_rpc_call_duration_seconds_count{code="0",method="msg_send"} 1`,
		`parley_ledger_events{room="room-a"} 7`,
		`parley_ledger_events{room="room-b"} 0`,
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "parley_messages_rejected_total" && len(mf.GetMetric()) != len(metrics.Reasons)+1 {
			t.Errorf("rejected series = %d; want every reason pre-resolved plus one", len(mf.GetMetric()))
		}
	}
}

// The gossip and RPC success paths must not allocate.
func TestHotPathsDoNotAllocate(t *testing.T) {
	m := metrics.New()
	r := m.RPCMethod("node_info")
	for name, f := range map[string]func(){
		"MessageReceived": m.MessageReceived,
		"MessageRejected": func() { m.MessageRejected("duplicate") },
		"RPC success":     func() { r.Observe(0, time.Millisecond) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func BenchmarkMessageReceived(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.MessageReceived()
		}
	})
}
