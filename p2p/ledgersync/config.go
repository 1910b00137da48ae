package ledgersync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/x/rate"

	"github.com/parley-chat/parley/ledger"
)

// Stream protocols of ledger sync. The frames are the same in both; they
// differ in the 16-byte fingerprints they carry (ledger.Fingerprint's V2 in
// 2.0.0, the forgeable XOR V1 in 1.0.0). A syncer serves both and asks for
// ProtocolID first; ProtocolV1 is kept for one release so that nodes not
// yet upgraded still sync, and then removed.
const (
	ProtocolID = "/parley/sync/2.0.0"
	ProtocolV1 = "/parley/sync/1.0.0"
)

// ServiceName is the resource-manager service scope of sync streams.
const ServiceName = "parley.sync"

// protocols are the versions served and asked for, in preference order.
var protocols = []protocol.ID{ProtocolID, ProtocolV1}

// Store is what the syncer needs from the node. Implementations must be
// safe for concurrent use.
type Store interface {
	// Rooms lists the joined room IDs: only these are served and synced.
	Rooms(ctx context.Context) ([]string, error)
	// Ledger is the read side: fingerprints, keys and raw events.
	Ledger() *ledger.Ledger
	// Ingest stores events of room that were verified with ledger.Decode,
	// given parents first, and shows new ones to subscribers once
	// (chat.Service.Ingest). It returns the new events and the rejections;
	// err when the store failed, or an error wrapping ErrLimit when it
	// takes no more for now (a budget): either ends the session, and
	// ErrLimit retries it later with backoff, without blame.
	Ingest(ctx context.Context, room string, evs []*ledger.Event) ([]*ledger.Event, []ledger.Rejection, error)
}

// Errors returned by Sync (wrapped; test with errors.Is).
var (
	// ErrRoomUnknown is returned when the peer has not joined the room (or
	// we have not: only joined rooms are synced).
	ErrRoomUnknown = errors.New("room unknown to peer")
	// ErrBusy is returned when a session for the same peer and room is
	// already running (here or at the peer), or the peer is at capacity.
	ErrBusy = errors.New("sync session already running")
	// ErrLimit is returned when a session stopped at a size limit; what was
	// received before is stored, and a new session continues from there.
	ErrLimit = errors.New("sync session limit reached")
	// ErrMisbehaving is returned when the peer broke the protocol or sent
	// invalid or unrequested events. Nothing from the offending frame is
	// stored and Config.OnMisbehave is called.
	ErrMisbehaving = errors.New("peer misbehaved during sync")
	// ErrBlocked is returned when the peer misbehaved recently and is
	// refused sync for Config.BlockFor.
	ErrBlocked = errors.New("peer blocked for misbehaving")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("syncer closed")
	// ErrNotAllowed is returned by Sync when Config.Allow refuses the peer
	// for the room: no stream is opened, since a Hello names the room.
	ErrNotAllowed = errors.New("peer not allowed to sync the room")
)

// Blocker blocks a peer for a while at the connection level, so that it
// cannot undo a penalty by redialling. *p2p.Node satisfies it.
type Blocker interface {
	Block(p peer.ID, d time.Duration)
}

// Config tunes a Syncer. Zero fields take the DefaultConfig values.
type Config struct {
	// MaxBatch bounds the events in one Events frame (default 512); a
	// frame also stays under 1 MiB of events.
	MaxBatch int
	// MaxEventsPerSession bounds the events one session receives or sends
	// (default 200,000). A new session continues where a stopped one ended.
	MaxEventsPerSession int
	// MaxBytesPerSession bounds the bytes one session receives or sends
	// (default 256 MiB).
	MaxBytesPerSession int64
	// MaxDeferredBytes bounds the events one outbound session holds while
	// their parents have not arrived (default 8 MiB). Events over it are
	// dropped without blame and the session ends with ErrLimit.
	MaxDeferredBytes int64
	// Timeout is the idle timeout: the longest one read or write on the
	// stream may block (default 20 s).
	Timeout time.Duration
	// SessionTimeout bounds a whole session (default 10 min).
	SessionTimeout time.Duration
	// Interval is the period of background syncs of each joined room with
	// one connected peer, jittered by ±25% (default 30 s; negative turns
	// them off).
	Interval time.Duration
	// Settle is how long after a peer joins a room's gossip topic
	// (PeerJoined) the room is synced with it a second time (default 3 s;
	// negative turns the second sync off). Gossipsub forwards a message
	// only to the peers in its mesh at that moment, and a new peer joins
	// a mesh at a later heartbeat, if at all; a message forwarded in
	// between reaches it only if gossip offers it (IHAVE) within the next
	// three heartbeats, and the first sync ran before it existed. Three
	// heartbeats is that gossip window.
	Settle time.Duration
	// Manual turns off the automatic syncs (on identification, periodic,
	// and the reverse sync after serving a peer that has events we lack);
	// Sync and Trigger still work. For tests and tools.
	Manual bool
	// MaxInbound bounds concurrent sessions served (default 16);
	// MaxOutbound bounds concurrent background sessions (default 4).
	MaxInbound, MaxOutbound int
	// Branch is how many sub-ranges a range splits into (default 16), and
	// ListThreshold the most keys a side lists instead of splitting
	// (default 32, at most MaxIDList).
	Branch, ListThreshold int
	// Blocker, if set, is told to block a peer that breaks the protocol or
	// sends bad events, for BlockFor, at the connection level (the node
	// passes its p2p.Node: connection gater and gossipsub score). The
	// syncer also refuses the peer sync itself for BlockFor either way.
	Blocker Blocker
	// OnMisbehave, if set, is called (from the session's goroutine) when a
	// peer breaks the protocol or sends bad events, after Blocker. With
	// neither Blocker nor OnMisbehave the peer is tagged in the connection
	// manager ("parley-bad", -100) and its connections closed.
	OnMisbehave func(p peer.ID, err error)
	// OnSession, if set, is called (from the session's goroutine; it must
	// not block) when a session ends: outbound for those Sync ran, with
	// its Stats and error; inbound for those served, with only the byte
	// counts set. Sessions refused before they start are not reported.
	// The node counts them in its metrics.
	OnSession func(outbound bool, st Stats, err error)
	// RateLimit bounds new inbound sessions per second: globally, per /24
	// (IPv4) and per /56 (IPv6), loopback exempt (go-libp2p x/rate; nil
	// means DefaultRateLimit()). Over the limit a stream is reset before
	// anything is read.
	RateLimit *rate.Limiter
	// BlockFor is how long a peer that misbehaved is refused sync, both
	// ways (default 10 min). Unlike a disconnect, redialling does not undo
	// it.
	BlockFor time.Duration
	// Allow, if set, is the access rule of sync: whether peer p may sync
	// room with us (nil allows everyone). A responder answers a refused
	// peer exactly as for a room it has not joined (the same Error frame,
	// code and text, before touching the ledger), so the peer cannot tell
	// a private room from one we lack; a requester never sends a refused
	// peer a Hello for the room (Sync returns ErrNotAllowed without
	// opening a stream) and background syncs skip it. It is called on
	// session and trigger paths, possibly concurrently, and must not
	// block. chat supplies it for private rooms (members and the room's
	// store nodes); the node wires it in (node/sync.go).
	Allow func(room string, p peer.ID) bool
	// Logger is the parent logger; the syncer logs through
	// Logger.With("subsystem", "sync"). Nil means slog.Default().
	Logger *slog.Logger

	// versions overrides the protocols served and asked for (tests play
	// a node of the previous release with it).
	versions []protocol.ID
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxBatch:            512,
		MaxEventsPerSession: 200_000,
		MaxBytesPerSession:  256 << 20,
		MaxDeferredBytes:    8 << 20,
		Timeout:             20 * time.Second,
		SessionTimeout:      10 * time.Minute,
		Interval:            30 * time.Second,
		Settle:              3 * time.Second,
		MaxInbound:          16,
		MaxOutbound:         4,
		Branch:              16,
		ListThreshold:       32,
	}
}

// DefaultRateLimit is the inbound session limit: 40 sessions/s (burst 80)
// in all, 4/s (burst 16) per /24 or /56 — a session answers a whole room,
// so a Hello of 53 bytes may cost megabytes to answer; loopback exempt.
func DefaultRateLimit() *rate.Limiter {
	return &rate.Limiter{
		GlobalLimit: rate.Limit{RPS: 40, Burst: 80},
		NetworkPrefixLimits: []rate.PrefixLimit{
			{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Limit: rate.Limit{}},
			{Prefix: netip.MustParsePrefix("::1/128"), Limit: rate.Limit{}},
		},
		SubnetRateLimiter: rate.SubnetLimiter{
			IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 24, Limit: rate.Limit{RPS: 4, Burst: 16}}},
			IPv6SubnetLimits: []rate.SubnetLimit{{PrefixLength: 56, Limit: rate.Limit{RPS: 4, Burst: 16}}},
			GracePeriod:      time.Minute,
		},
	}
}

// withDefaults fills each zero field from DefaultConfig (Interval and
// Settle: negative, not zero, turns them off; Manual stays as given).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.MaxBatch, d.MaxBatch)
	set(&c.MaxEventsPerSession, d.MaxEventsPerSession)
	set(&c.MaxInbound, d.MaxInbound)
	set(&c.MaxOutbound, d.MaxOutbound)
	set(&c.Branch, d.Branch)
	set(&c.ListThreshold, d.ListThreshold)
	if c.MaxBytesPerSession == 0 {
		c.MaxBytesPerSession = d.MaxBytesPerSession
	}
	if c.MaxDeferredBytes == 0 {
		c.MaxDeferredBytes = d.MaxDeferredBytes
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = d.SessionTimeout
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Settle == 0 {
		c.Settle = d.Settle
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RateLimit == nil {
		c.RateLimit = DefaultRateLimit()
	}
	if c.BlockFor == 0 {
		c.BlockFor = 10 * time.Minute
	}
	if len(c.versions) == 0 {
		c.versions = protocols
	}
	return c
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxBatch < 1:
		return fmt.Errorf("MaxBatch %d < 1", c.MaxBatch)
	case c.MaxEventsPerSession < 1, c.MaxBytesPerSession < 1, c.MaxDeferredBytes < ledger.MaxEventSize:
		return errors.New("session limits must be positive")
	case c.Timeout <= 0, c.SessionTimeout <= 0:
		return errors.New("timeouts must be positive")
	case c.MaxInbound < 1, c.MaxOutbound < 1:
		return errors.New("MaxInbound and MaxOutbound must be positive")
	case c.Branch < 2:
		return fmt.Errorf("Branch %d < 2", c.Branch)
	case c.ListThreshold < 1 || c.ListThreshold > MaxIDList:
		return fmt.Errorf("ListThreshold %d outside 1..%d", c.ListThreshold, MaxIDList)
	}
	return nil
}
