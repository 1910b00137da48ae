package rpc

import (
	"net/http"
	"time"

	"github.com/parley-chat/parley/rpc/api"
)

// Metrics receives a count of every answered call and serves the scrape
// of MetricsPath. It is declared here, where it is used; the node passes
// its Prometheus sink (internal/metrics), which satisfies it structurally.
type Metrics interface {
	// RPCCalls returns the function that counts one answered call of
	// method with its JSON-RPC code (0: success) and duration. The server
	// calls RPCCalls once per served method, plus once for unknown names,
	// in New; the function it returns runs on every call, from many
	// goroutines, so it must be safe for concurrent use, cheap and
	// non-blocking.
	RPCCalls(method string) func(code int, d time.Duration)
	// Handler serves a scrape (GET or HEAD) of MetricsPath, after the
	// server's own checks.
	Handler() http.Handler
}

// MetricsPath is the HTTP path of the Prometheus endpoint, served only when
// Config.Metrics is set. It sits behind the same Host, Origin and token
// checks as Path.
const MetricsPath = "/metrics"

// unknownMethod labels calls of names that are not registered, so that
// clients cannot grow the metrics' label set.
const unknownMethod = "unknown"

// callMetrics holds each served method's counting function, resolved once
// at New.
type callMetrics map[string]func(code int, d time.Duration)

func newCallMetrics(m Metrics, methods []*method) callMetrics {
	if m == nil {
		return nil
	}
	cm := callMetrics{unknownMethod: m.RPCCalls(unknownMethod)}
	for _, meth := range methods {
		cm[meth.Name] = m.RPCCalls(meth.Name)
	}
	return cm
}

// observe counts one answered call of name with code (0: success).
func (cm callMetrics) observe(name string, code api.Code, d time.Duration) {
	if cm == nil {
		return
	}
	f, ok := cm[name]
	if !ok {
		f = cm[unknownMethod]
	}
	f(int(code), d)
}

// serveMetrics answers a scrape of MetricsPath, once ServeHTTP's checks
// passed: GET or HEAD only (405), one token of the client's rate limit
// (429).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	if rerr := admit(s.ipLimits.get(r.RemoteAddr, time.Now()), 1); rerr != nil {
		tooMany(w, rerr, nil)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.cfg.Metrics.Handler().ServeHTTP(w, r)
}
