package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/metrics"
)

// RPCCalls is RPCMethod's Observe: it counts into the same series, on a
// nil *Metrics it counts nothing, and a success does not allocate.
func TestRPCCalls(t *testing.T) {
	var off *metrics.Metrics
	off.RPCCalls("node_info")(0, time.Millisecond)

	m := metrics.New()
	calls := m.RPCCalls("msg_send")
	calls(0, time.Millisecond)
	calls(-32002, time.Millisecond)
	body := scrape(t, m)
	for _, want := range []string{
		`parley_rpc_calls_total{code="0",method="msg_send"} 1`,
		`parley_rpc_calls_total{code="-32002",method="msg_send"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { calls(0, time.Millisecond) }); n != 0 {
		t.Errorf("success: %v allocations per call", n)
	}
}
