package rpc_test

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/rpc"
)

// fakeMetrics is a Metrics that records calls; it stands where the node
// passes internal/metrics.
type fakeMetrics struct {
	mu      sync.Mutex
	methods []string       // RPCCalls was asked for these
	calls   map[string]int // "method code" -> count
}

var _ rpc.Metrics = (*fakeMetrics)(nil)

func (m *fakeMetrics) RPCCalls(method string) func(int, time.Duration) {
	m.mu.Lock()
	m.methods = append(m.methods, method)
	m.mu.Unlock()
	return func(code int, _ time.Duration) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.calls[method+" "+strconv.Itoa(code)]++
	}
}

func (m *fakeMetrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "fake_metric 1\n") })
}

func (m *fakeMetrics) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[key]
}

// The server resolves a counter per served method (and one for unknown
// names) at New, counts every answered call by method and code, and serves
// the Metrics' handler at MetricsPath behind the token.
func TestMetricsInterface(t *testing.T) {
	fm := &fakeMetrics{calls: map[string]int{}}
	ts := startServer(t, func(c *rpc.Config) { c.Metrics = fm })
	if !slices.Contains(fm.methods, "node_info") || !slices.Contains(fm.methods, "unknown") {
		t.Fatalf("RPCCalls asked for %v", fm.methods)
	}
	ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"node_info","params":[]}`)
	ts.call(t, `{"jsonrpc":"2.0","id":2,"method":"room_leave","params":["nope"]}`)
	ts.call(t, `{"jsonrpc":"2.0","id":3,"method":"no_such_method","params":[]}`)
	for key, want := range map[string]int{"node_info 0": 1, "room_leave -32001": 1, "unknown -32601": 1} {
		if got := fm.count(key); got != want {
			t.Errorf("calls[%q] = %d, want %d (all: %v)", key, got, want, fm.calls)
		}
	}

	get := func(auth string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, strings.TrimSuffix(ts.url, rpc.Path)+rpc.MetricsPath, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(testToken); code != http.StatusOK || body != "fake_metric 1\n" {
		t.Errorf("scrape = %d %q", code, body)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("scrape without token = %d, want 401", code)
	}

	off := startServer(t, nil) // no Metrics: the path does not exist
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, strings.TrimSuffix(off.url, rpc.Path)+rpc.MetricsPath, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("scrape without Metrics = %d, want 404", resp.StatusCode)
	}
}
