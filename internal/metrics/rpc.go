package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RPCMethod reports the calls of one JSON-RPC method. Its success series
// are resolved when it is made, so observing a successful call neither
// allocates nor looks labels up. A nil *RPCMethod does nothing.
type RPCMethod struct {
	m       *Metrics
	name    string
	okCalls prometheus.Counter
	okDur   prometheus.Observer
}

// RPCMethod returns the reporter for method name. The server makes one per
// registered method, plus one for unknown names, so that clients cannot
// grow the label set. It returns nil on a nil *Metrics.
func (m *Metrics) RPCMethod(name string) *RPCMethod {
	if m == nil {
		return nil
	}
	return &RPCMethod{
		m: m, name: name,
		okCalls: m.rpcCalls.WithLabelValues(name, "0"),
		okDur:   m.rpcDuration.WithLabelValues(name, "0"),
	}
}

// RPCCalls returns r.Observe of the reporter for method name, the shape
// package rpc's Metrics interface asks for. It counts nothing on a nil
// *Metrics.
func (m *Metrics) RPCCalls(name string) func(code int, d time.Duration) {
	return m.RPCMethod(name).Observe
}

// Observe counts one call that ended with JSON-RPC error code (0: success)
// after d.
func (r *RPCMethod) Observe(code int, d time.Duration) {
	if r == nil {
		return
	}
	if code == 0 {
		r.okCalls.Inc()
		r.okDur.Observe(d.Seconds())
		return
	}
	c := strconv.Itoa(code)
	r.m.rpcCalls.WithLabelValues(r.name, c).Inc()
	r.m.rpcDuration.WithLabelValues(r.name, c).Observe(d.Seconds())
}
