// Package metrics is a node's Prometheus instrumentation: one
// prometheus.Registry per node (never the global default registry, so
// several nodes in one process do not collide), Parley's own metrics, the
// Go runtime and process collectors, and the registry libp2p registers its
// metrics with (Registerer, passed to p2p.Config).
//
// A *Metrics is the sink the other packages report to. Every method is
// safe for concurrent use and safe on a nil *Metrics, which does nothing:
// a node without metrics passes nil and pays one nil check per call. The
// counters of the hot paths (gossip) are resolved when New runs, so
// reporting a message neither allocates nor takes a lock.
//
// Handler serves the text exposition format; package rpc mounts it at
// /metrics behind the RPC token. docs/METRICS.md lists every metric.
package metrics
