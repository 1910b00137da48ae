package chat

// Metrics receives counts of gossip traffic. It is declared here, where it
// is used; the node passes its Prometheus sink (internal/metrics), which
// satisfies it structurally. Methods are called on the gossip hot path,
// from many goroutines: they must be safe for concurrent use, cheap and
// non-blocking.
type Metrics interface {
	// MessageSent counts an event this node authored, stored and
	// published (a message, join or leave).
	MessageSent()
	// MessageReceived counts a gossip event from a peer that passed
	// validation.
	MessageReceived()
	// MessageRejected counts a gossip event not stored, with one of the
	// Reject* reasons.
	MessageRejected(reason string)
	// OrphansHeld sets the level of the orphan pool: events held while
	// their parents are fetched, and the bytes they are charged
	// (OrphanLimits). Called under the pool's lock after each change.
	OrphansHeld(events int, bytes int64)
}

// Reasons passed to Metrics.MessageRejected.
const (
	RejectInvalid        = "invalid"         // malformed, bad signature or over a size limit
	RejectWrongRoom      = "wrong_room"      // signed for another room than the topic's
	RejectRateLimited    = "rate_limited"    // over the per-author or per-peer gossip rate
	RejectMissingParents = "missing_parents" // held back (and not forwarded) until its parents arrive
	RejectBadParents     = "bad_parents"     // does not fit its parents
	RejectDuplicate      = "duplicate"       // already stored
	RejectQueueFull      = "queue_full"      // the room's ingest queue was full; a sync fetches it
	RejectModeration     = "moderation"      // refused or hidden by a moderated room's rules
)

// noMetrics is the Metrics of a service configured without one.
type noMetrics struct{}

func (noMetrics) MessageSent()           {}
func (noMetrics) MessageReceived()       {}
func (noMetrics) MessageRejected(string) {}
func (noMetrics) OrphansHeld(int, int64) {}

// metrics returns the configured Metrics, or one that counts nothing (also
// for a Service not made by New, as in tests).
func (s *Service) metrics() Metrics {
	if s.cfg.Metrics == nil {
		return noMetrics{}
	}
	return s.cfg.Metrics
}
