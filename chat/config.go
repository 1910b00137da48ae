package chat

import (
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Config configures a Service.
type Config struct {
	// Name is the display name announced in join events; may be empty.
	Name string
	// Logger receives the service's logs; nil means slog.Default().
	Logger *slog.Logger
	// OnMissing, if set, is called (from a timer goroutine; it must not
	// block) when an event from peer from still refers to parents we do not
	// have, or when gossip from it was dropped because the room's ingest
	// queue was full, so the caller can start a sync of that room with that
	// peer; it is called again with from "" (any members) while they stay
	// missing.
	OnMissing func(room string, from peer.ID)
	// OnJoin, if set, is called after a room is joined (not on rejoins at
	// start), so the caller can fetch the room's history.
	OnJoin func(room string)
	// Limits bound gossip per author and per forwarding peer; the zero
	// value means DefaultLimits. Set a rate to a negative value to turn
	// that limit off.
	Limits Limits
	// Clock returns the current time; nil means time.Now. Tests set it.
	Clock func() time.Time
	// Metrics, if set, counts messages sent, received and rejected (see
	// Metrics). Nil means none.
	Metrics Metrics
}
