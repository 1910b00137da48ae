package node_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc"
)

func withMetrics(o *node.Options) { o.Config.Metrics = true }

// scrape GETs url with the given Authorization header value ("" for none)
// and returns the status and body.
func scrape(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With Config.Metrics the node serves Prometheus metrics (its own, libp2p's,
// the Go runtime's) at /metrics on the RPC listener, behind the token; two
// such nodes in one process keep separate registries.
func TestMetricsEndpoint(t *testing.T) {
	n := startRPCNode(t, withMetrics)
	other := startRPCNode(t, withMetrics) // a second registry in the same process
	url := n.MetricsURL()
	if want := strings.TrimSuffix(n.url, rpc.Path) + "/metrics"; url != want {
		t.Fatalf("MetricsURL() = %q, want %q", url, want)
	}

	var room struct{ ID string }
	n.call(t, "room_join", []any{"general"}, &room)
	if _, err := n.Chat().Send(t.Context(), "general", "hello"); err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	n.call(t, "node_info", nil, &info)
	n.call(t, "node_info", nil, &info)

	code, body := scrape(t, url, "Bearer "+n.token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics with token: %d %s", code, body)
	}
	for _, re := range []string{
		`(?m)^parley_messages_sent_total 2$`, // the join and the message
		`(?m)^parley_rpc_calls_total\{code="0",method="node_info"\} 2$`,
		`(?m)^parley_rpc_calls_total\{code="0",method="room_join"\} 1$`,
		`(?m)^parley_rpc_call_duration_seconds_bucket\{code="0",method="node_info",le="\+Inf"\} 2$`,
		`(?m)^parley_ledger_events\{room="` + regexp.QuoteMeta(room.ID) + `"\} 2$`,
		`(?m)^parley_messages_rejected_total\{reason="invalid"\} 0$`,
		`(?m)^libp2p_(rcmgr|swarm)_`,
		`(?m)^go_goroutines `,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("no match for %s", re)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
	if _, ob := scrape(t, other.MetricsURL(), "Bearer "+other.token); !strings.Contains(ob, "parley_messages_sent_total 0") {
		t.Errorf("second node's registry counts the first node's sends")
	}

	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"other node's token", "Bearer " + other.token, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := scrape(t, url, tc.auth); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
		})
	}
	t.Run("foreign host", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		req.Host = "evil.example:80"
		req.Header.Set("Authorization", "Bearer "+n.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	})
	t.Run("POST", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
		req.Header.Set("Authorization", "Bearer "+n.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", resp.StatusCode)
		}
	})
}

// Metrics are off by default: /metrics is 404 even with the token.
func TestMetricsOffByDefault(t *testing.T) {
	n := startRPCNode(t)
	if u := n.MetricsURL(); u != "" {
		t.Fatalf("MetricsURL() = %q without metrics", u)
	}
	url := strings.TrimSuffix(n.url, rpc.Path) + rpc.MetricsPath
	if code, _ := scrape(t, url, "Bearer "+n.token); code != http.StatusNotFound {
		t.Fatalf("GET /metrics with metrics off: %d, want 404", code)
	}
}

// metricValue returns the value of the sample line that starts with series
// followed by a space, or -1.
func metricValue(body, series string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// Gossip and sync between two nodes show in the receiver's metrics: every
// event of the sender arrives either by gossip (received) or by sync
// (stored), and each outbound sync session is counted with its bytes.
func TestMetricsGossipAndSync(t *testing.T) {
	a, b := startRPCNode(t, withMetrics), startRPCNode(t, withMetrics)
	connect(t, a.Node, b.Node)
	for _, n := range []*rpcNode{a, b} {
		if _, err := n.Chat().Join(t.Context(), "general"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Chat().Send(t.Context(), "general", "hello b"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "a's message at b", func() bool { return hasText(history(t, b.Node, "general"), "hello b") })
	var body string
	testwait.For(t, 5*time.Second, "sync sessions counted", func() bool {
		_, body = scrape(t, b.MetricsURL(), "Bearer "+b.token)
		return strings.Contains(body, `parley_sync_sessions_total{direction="outbound"`) &&
			metricValue(body, `parley_sync_bytes_total{direction="sent"}`) > 0
	})
	got := metricValue(body, "parley_messages_received_total") + metricValue(body, "parley_sync_events_stored_total")
	if got < 2 { // a's join and message
		t.Errorf("received by gossip + stored by sync = %v, want >= 2\n%s", got, body)
	}
}
