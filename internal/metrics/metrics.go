package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every Parley metric.
const Namespace = "parley"

// Reasons for which gossip is rejected (label reason of
// parley_messages_rejected_total). Package chat reports the same strings;
// an unknown reason still counts, under its own label value.
var Reasons = []string{
	"invalid",         // malformed, bad signature or over a size limit
	"wrong_room",      // signed for another room than the topic's
	"rate_limited",    // over the per-author or per-peer gossip rate
	"missing_parents", // held back until its parents arrive
	"bad_parents",     // does not fit its parents (Lamport clock)
	"duplicate",       // already stored (by sync, or an earlier copy)
	"queue_full",      // the room's ingest queue was full; a sync fetches it
	"moderation",      // refused or hidden by a moderated room's rules
}

// Metrics is a node's registry and the metrics Parley reports to it. The
// zero value is not usable; a nil *Metrics is (every method is a no-op).
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	sent, received prometheus.Counter
	rejectedVec    *prometheus.CounterVec
	rejected       map[string]prometheus.Counter // read-only after New

	syncSessions       *prometheus.CounterVec
	syncEventsReceived prometheus.Counter
	syncEventsStored   prometheus.Counter
	syncBytesSent      prometheus.Counter
	syncBytesReceived  prometheus.Counter

	rpcCalls    *prometheus.CounterVec
	rpcDuration *prometheus.HistogramVec

	orphanEvents, orphanBytes prometheus.Gauge
}

// rpcBuckets are the latency buckets of parley_rpc_call_duration_seconds:
// most calls take well under a millisecond, msg_send waits for an fsync.
var rpcBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// New returns a Metrics with a new registry holding the Go runtime and
// process collectors and every Parley metric except the ledger sizes (see
// WatchLedger).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	}
	m.sent = counter("messages_sent_total", "Events this node authored, stored and published (messages, joins, leaves).")
	m.received = counter("messages_received_total", "Gossip events from peers that passed validation (signature, size, room, rate limits).")
	m.rejectedVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "messages_rejected_total",
		Help: "Gossip events not stored, by reason.",
	}, []string{"reason"})
	m.rejected = make(map[string]prometheus.Counter, len(Reasons))
	for _, r := range Reasons {
		m.rejected[r] = m.rejectedVec.WithLabelValues(r)
	}
	m.syncSessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sync_sessions_total",
		Help: "Ledger sync sessions ended, by direction (outbound: we pulled; inbound: we served) and result.",
	}, []string{"direction", "result"})
	m.syncEventsReceived = counter("sync_events_received_total", "Events received and verified in outbound sync sessions.")
	m.syncEventsStored = counter("sync_events_stored_total", "Of those, events new to the ledger.")
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sync_bytes_total",
		Help: "Bytes on ledger sync streams, both session directions, by direction on the wire.",
	}, []string{"direction"})
	m.syncBytesSent, m.syncBytesReceived = bytes.WithLabelValues("sent"), bytes.WithLabelValues("received")
	m.rpcCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rpc_calls_total",
		Help: "JSON-RPC calls answered, by method and JSON-RPC error code (0: success).",
	}, []string{"method", "code"})
	m.rpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "rpc_call_duration_seconds",
		Help:    "JSON-RPC call latency in the server (decoded request to encoded result), by method and code.",
		Buckets: rpcBuckets,
	}, []string{"method", "code"})
	m.orphanEvents = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "orphan_events",
		Help: "Gossip events held while their parents are fetched (all rooms)."})
	m.orphanBytes = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "orphan_bytes",
		Help: "What the held orphans are charged against the orphan budget (chat.OrphanLimits.Bytes)."})
	reg.MustRegister(
		collectors.NewGoCollector(),
		m.orphanEvents, m.orphanBytes,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.sent, m.received, m.rejectedVec,
		m.syncSessions, m.syncEventsReceived, m.syncEventsStored, bytes,
		m.rpcCalls, m.rpcDuration,
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	return m
}

// Registerer is the registry for other subsystems' metrics (libp2p's:
// p2p.Config.Registerer). It is nil on a nil *Metrics, which is what
// p2p.Config takes to mean "no metrics".
func (m *Metrics) Registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.reg
}

// Gatherer returns the registry for reading (tests, tools); nil on a nil
// *Metrics.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus text format (gzip when
// asked). It does no authentication: mount it behind the RPC's checks. On
// a nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// MessageSent counts an event this node authored and published.
func (m *Metrics) MessageSent() {
	if m != nil {
		m.sent.Inc()
	}
}

// MessageReceived counts a gossip event that passed validation.
func (m *Metrics) MessageReceived() {
	if m != nil {
		m.received.Inc()
	}
}

// MessageRejected counts a gossip event not stored, for reason (one of
// Reasons; other values count under their own label).
func (m *Metrics) MessageRejected(reason string) {
	if m == nil {
		return
	}
	if c, ok := m.rejected[reason]; ok {
		c.Inc()
		return
	}
	m.rejectedVec.WithLabelValues(reason).Inc()
}

// OrphansHeld sets the orphan pool's level: events held and bytes charged.
func (m *Metrics) OrphansHeld(events int, bytes int64) {
	if m != nil {
		m.orphanEvents.Set(float64(events))
		m.orphanBytes.Set(float64(bytes))
	}
}

// Session is one ended ledger sync session, as SyncSession takes it.
type Session struct {
	// Outbound: we opened it to pull; otherwise we served it.
	Outbound bool
	// Result labels the outcome: ok, limit, busy, room_unknown,
	// misbehaving or error.
	Result                       string
	EventsReceived, EventsStored int
	BytesSent, BytesReceived     int
}

// SyncSession counts one ended sync session and its traffic.
func (m *Metrics) SyncSession(s Session) {
	if m == nil {
		return
	}
	dir := "inbound"
	if s.Outbound {
		dir = "outbound"
	}
	m.syncSessions.WithLabelValues(dir, s.Result).Inc()
	m.syncEventsReceived.Add(float64(s.EventsReceived))
	m.syncEventsStored.Add(float64(s.EventsStored))
	m.syncBytesSent.Add(float64(s.BytesSent))
	m.syncBytesReceived.Add(float64(s.BytesReceived))
}
