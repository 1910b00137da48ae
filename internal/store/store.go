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

// CacheSize is Pebble's block cache. It fills only as blocks are read, so
// an idle node does not pay for it.
const CacheSize = 32 << 20

// OpenPebble opens (creating if needed) a Pebble datastore in dir.
//
// Writes are not synced one by one: the ledger calls Sync once per group of
// writes that holds the node's own events (P5); events from peers need no
// fsync of their own, since sync can fetch them again. Every level has a
// bloom filter, because every incoming event is first looked up by ID (to
// drop duplicates) and almost all of those lookups miss.
func OpenPebble(dir string) (*pebbleds.Datastore, error) {
	o := &pebble.Options{}
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
