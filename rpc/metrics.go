package rpc

import (
	"net/http"
	"time"

	"github.com/parley-chat/parley/internal/metrics"
	"github.com/parley-chat/parley/rpc/api"
)

// MetricsPath is the HTTP path of the Prometheus endpoint, served only when
// Config.Metrics is set. It sits behind the same Host, Origin and token
// checks as Path.
const MetricsPath = "/metrics"

// unknownMethod labels calls of names that are not registered, so that
// clients cannot grow the metrics' label set.
const unknownMethod = "unknown"

// callMetrics resolves each served method's reporter once, at New.
type callMetrics map[string]*metrics.RPCMethod

func newCallMetrics(m *metrics.Metrics, methods []*method) callMetrics {
	if m == nil {
		return nil
	}
	cm := callMetrics{unknownMethod: m.RPCMethod(unknownMethod)}
	for _, meth := range methods {
		cm[meth.Name] = m.RPCMethod(meth.Name)
	}
	return cm
}

// observe counts one answered call of name with code (0: success).
func (cm callMetrics) observe(name string, code api.Code, d time.Duration) {
	if cm == nil {
		return
	}
	r, ok := cm[name]
	if !ok {
		r = cm[unknownMethod]
	}
	r.Observe(int(code), d)
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
