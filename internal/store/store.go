// Package store opens the node's on-disk datastore: Pebble, through
// go-ds-pebble, tuned for the ledger. The node and the benchmarks share it,
// so what is measured is what runs.
package store

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// BlockCacheSize is what Pebble's cache keeps of the blocks it reads. It
// fills only as blocks are read, so an idle node does not pay for it.
const BlockCacheSize = 32 << 20

// CacheSize is the cache handed to Pebble: Pebble charges its memtables
// (the active one and the spare it recycles) to the same cache, so it is
// the block cache plus two full memtables. Without them, 16 MiB memtables
// would leave no room for blocks at all.
const CacheSize = BlockCacheSize + 2*MemTableSize

// MemTableSize is the largest memtable Pebble grows to (it starts at 256
// KiB and doubles). Each time one fills, Pebble closes and syncs the
// write-ahead log, creates the next one and syncs the directory, inline
// in the write that found it full: every write of the node waits, and
// with the disk busy that took 25-80 ms here (soak of 10 nodes at 100
// msg/s, all on one disk). Pebble's default of 4 MiB meant one such
// stall every ~36 s in that room, and it set the room's p99; 16 MiB
// makes it four times rarer (whole-soak p99 21.5 / 26.5 ms -> 10.9 /
// 15.7 ms with walBytesPerSync; 17.7 ms with walBytesPerSync and 4 MiB;
// docs/BENCHMARKS.md).
//
// The costs: a node that has written more than about 32 MiB keeps two
// full memtables (the active one and a recycled spare), 32 MiB of
// memory where the default kept 8; a fresh or quiet node keeps far less,
// since memtables start small. After a crash (a clean Close flushes) up
// to two memtables of WAL are replayed at start: ~160 ms for 16 MiB on
// this project's machine, against ~40 ms for 4 MiB.
const MemTableSize = 16 << 20

// walBytesPerSync has the OS write the WAL out in the background every
// 512 KiB (sync_file_range on Linux; where that is missing, Pebble does a
// full fdatasync every 512 KiB instead). A node that only receives never
// syncs its WAL (P5 needs that only for its own events), so without it a
// full memtable's worth of WAL waited in the page cache for the sync that
// closes the log, and that stall grew with MemTableSize.
const walBytesPerSync = 512 << 10

// OpenPebble opens (creating if needed) a Pebble datastore in dir.
//
// Writes are not synced one by one: the ledger calls Sync once per group of
// writes that holds the node's own events (P5); events from peers need no
// fsync of their own, since sync can fetch them again. Every level has a
// bloom filter, because every incoming event is first looked up by ID (to
// drop duplicates) and almost all of those lookups miss.
func OpenPebble(dir string) (*pebbleds.Datastore, error) {
	o := &pebble.Options{MemTableSize: MemTableSize, WALBytesPerSync: walBytesPerSync}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].FilterType = pebble.TableFilter
	}
	d, err := pebbleds.NewDatastore(dir, pebbleds.WithPebbleWriteOptions(pebble.NoSync),
		pebbleds.WithPebbleOpts(o), pebbleds.WithCacheSize(CacheSize))
	if err != nil {
		return nil, fmt.Errorf("open pebble in %s: %w", dir, err)
	}
	return d, nil
}
