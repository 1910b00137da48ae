package ledger

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Ledger. The zero value is usable: Open fills every
// zero field from DefaultConfig.
type Config struct {
	// Logger receives the ledger's logs, tagged subsystem=ledger by Open;
	// nil means slog.Default(). Pass an untagged logger.
	Logger *slog.Logger
	// OnCommit, if set, is called from one of the ledger's goroutines with
	// every batch of newly stored events, in arrival (Seq) order, once the
	// batch is stored and, when it holds events of ours, flushed. It must
	// not block and must not call back into the ledger's write methods.
	OnCommit func([]*Event)
	// OnApplied, if set, is called from the commit goroutine with our own
	// (Append) events as soon as their batch is applied, before the fsync
	// that makes them durable, in arrival order. It lets the caller publish
	// them without waiting for the disk; Append still returns only after
	// the fsync. It must not block.
	OnApplied func([]*Event)
	// MaxGather bounds how long an fsync waits for the writers the last
	// one acknowledged to send again (see committer.gather): zero means
	// DefaultMaxGather, negative turns the wait off.
	MaxGather time.Duration
	// MaxGroupEvents bounds the events of one commit group (one datastore
	// batch) when it takes bulk writes (Add) of several rooms in turn;
	// zero means DefaultMaxGroupEvents. A single Add larger than this is
	// still written whole, in a group of its own.
	MaxGroupEvents int
	// Check, if set, judges each event by the room's own rules once its
	// parents are known to be stored or staged, before it is staged:
	// Append's events and every event of Add, in order (a parent staged
	// by the same call is judged first). An error refuses the event:
	// Append returns it and Add reports a Rejection, both wrapping
	// ErrRefused. It is called under the room's lock, so it must not
	// block or call back into the ledger.
	Check func(ev *Event) error
	// Parents, if set, returns the rule by which Append chooses a new
	// event's parents in room (see ParentPolicy). Called under the
	// room's lock, like Check.
	Parents func(room string) ParentPolicy
}

// DefaultMaxGather is the longest an fsync waits to gather writers. The
// wait is also never longer than the last fsync took, so a writer's
// acknowledgement is delayed by at most one more fsync's time.
const DefaultMaxGather = time.Millisecond

// DefaultMaxGroupEvents is the default bound on a commit group's events:
// two of ledgersync's frames, a few milliseconds of Pebble writes, which
// is how long a send in another room may wait behind a catch-up's batch.
const DefaultMaxGroupEvents = 1024

// DefaultConfig returns every default of Config.
func DefaultConfig() Config {
	return Config{MaxGather: DefaultMaxGather, MaxGroupEvents: DefaultMaxGroupEvents}
}

// withDefaults fills each zero field of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.MaxGather = cmp.Or(c.MaxGather, d.MaxGather)
	c.MaxGroupEvents = cmp.Or(c.MaxGroupEvents, d.MaxGroupEvents)
	return c
}

// Validate reports the first field of c that Open cannot use.
func (c Config) Validate() error {
	if c.MaxGroupEvents < 1 {
		return fmt.Errorf("MaxGroupEvents %d < 1", c.MaxGroupEvents)
	}
	return nil
}
