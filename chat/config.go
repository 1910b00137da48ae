package chat

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Config configures a Service. Start from DefaultConfig, or leave fields
// zero: New fills each zero field with its default.
type Config struct {
	// Name is the display name announced in join events; may be empty.
	Name string
	// Logger is the parent logger, untagged; the service tags its lines
	// subsystem=chat and hands Logger to its ledger, which tags its own
	// subsystem=ledger. Nil means slog.Default().
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
	// Orphans bound the events held while their parents are fetched; each
	// zero field takes its DefaultOrphanLimits value.
	Orphans OrphanLimits
	// Clock returns the current time; nil means time.Now. It stamps our
	// events, ages orphans and refills the rate limits and the newcomer
	// budget; tests set it.
	Clock func() time.Time
	// Metrics, if set, counts messages sent, received and rejected (see
	// Metrics). Nil means none.
	Metrics Metrics
	// Keys gives private rooms their key material (Keys); nil means this
	// node cannot create, join or read private rooms (ErrPrivateRooms).
	Keys Keys
	// Admission carries our proofs of invite secrets to inviters
	// (JoinInvite with a token that does not name us); nil means such
	// tokens cannot be used from this node.
	Admission Admission
	// EpochKeyRetention is how long a private room's epoch keeps its
	// chain states after this node first sees a later epoch current;
	// then they are erased and late events of it show nothing. Zero
	// means 30 days.
	EpochKeyRetention time.Duration
	// EpochTopicGrace is how long this node stays on a private room's
	// previous epoch topic after it joined the next one (or learned it was
	// removed), so that what members not yet rotated publish there still
	// arrives (roomtopic.go). Zero means one minute.
	EpochTopicGrace time.Duration
	// DMDelivery hands a new direct conversation's first message to its
	// other member (what fails stays in the outbox); nil means this node
	// cannot start direct conversations.
	DMDelivery DMDelivery
	// DMRekeyInterval is how old a direct conversation's current epoch
	// may grow (by its event's claimed time) before this node starts a
	// new one: before its next message there, or, if it created the
	// conversation, on its hourly sweep (dmrekey.go). Zero means 7 days;
	// at least an hour.
	DMRekeyInterval time.Duration
}

// DefaultConfig returns the defaults: DefaultLimits, DefaultOrphanLimits, time.Now,
// 30 days' EpochKeyRetention, a minute's EpochTopicGrace, 7 days'
// DMRekeyInterval, and no name, callbacks or metrics (Logger nil:
// slog.Default() at New).
func DefaultConfig() Config {
	return Config{Limits: DefaultLimits(), Orphans: DefaultOrphanLimits(), Clock: time.Now,
		EpochKeyRetention: 30 * 24 * time.Hour, EpochTopicGrace: time.Minute, DMRekeyInterval: 7 * 24 * time.Hour}
}

// withDefaults fills each zero field from DefaultConfig; a nil Logger
// becomes slog.Default().
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Limits == (Limits{}) {
		c.Limits = d.Limits
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	c.EpochKeyRetention = cmp.Or(c.EpochKeyRetention, d.EpochKeyRetention)
	c.DMRekeyInterval = cmp.Or(c.DMRekeyInterval, d.DMRekeyInterval)
	c.EpochTopicGrace = cmp.Or(c.EpochTopicGrace, d.EpochTopicGrace)
	o, do := &c.Orphans, d.Orphans
	o.Bytes = cmp.Or(o.Bytes, do.Bytes)
	o.RoomBytes = cmp.Or(o.RoomBytes, do.RoomBytes)
	o.GroupBytes = cmp.Or(o.GroupBytes, do.GroupBytes)
	o.MaxAge = cmp.Or(o.MaxAge, do.MaxAge)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field New cannot run with: a rate that is
// not a number, a negative burst, a key retention that is not positive, a
// DMRekeyInterval under MinDMRekeyInterval, or orphan budgets that are
// not positive or not nested (group ≤ room ≤ all).
func (c Config) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"AuthorRate", c.Limits.AuthorRate}, {"PeerRate", c.Limits.PeerRate}, {"NewcomerRate", c.Limits.NewcomerRate}} {
		if math.IsNaN(r.v) {
			return fmt.Errorf("Limits.%s is NaN", r.name)
		}
	}
	if c.Limits.AuthorBurst < 0 || c.Limits.PeerBurst < 0 || c.Limits.NewcomerBurst < 0 {
		return errors.New("Limits: negative burst")
	}
	if c.EpochKeyRetention <= 0 {
		return fmt.Errorf("EpochKeyRetention must be positive (%v)", c.EpochKeyRetention)
	}
	if c.DMRekeyInterval < MinDMRekeyInterval {
		return fmt.Errorf("DMRekeyInterval must be at least %v (%v)", MinDMRekeyInterval, c.DMRekeyInterval)
	}
	if c.EpochTopicGrace <= 0 {
		return fmt.Errorf("EpochTopicGrace must be positive (%v)", c.EpochTopicGrace)
	}
	o := c.Orphans
	switch {
	case o.Bytes <= 0 || o.RoomBytes <= 0 || o.GroupBytes <= 0 || o.MaxAge <= 0:
		return fmt.Errorf("Orphans: budgets and MaxAge must be positive (%+v)", o)
	case o.GroupBytes > o.RoomBytes || o.RoomBytes > o.Bytes:
		return fmt.Errorf("Orphans: want GroupBytes ≤ RoomBytes ≤ Bytes (%+v)", o)
	}
	return nil
}
