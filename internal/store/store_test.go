package store

import (
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// Pebble charges its memtables to the block cache. Once 16 MiB memtables
// have grown to full size, reads must still be cached: with a cache the
// size of the memtables alone, every read went to the files.
func TestBlockCacheSurvivesFullMemtables(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 48 MiB")
	}
	d, err := OpenPebble(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	val := make([]byte, 1024)
	const n = 48 << 10 // 48 MiB of values: three full memtables
	for i := 0; i < n; i += 1024 {
		b, err := d.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for j := i; j < i+1024; j++ {
			if err := b.Put(ctx, key(j), val); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.DB.Flush(); err != nil { // the early keys now live in files only
		t.Fatal(err)
	}
	for range 2 {
		for j := 0; j < 4096; j++ {
			if _, err := d.Get(ctx, key(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := d.DB.Metrics()
	if m.BlockCache.Hits == 0 || m.BlockCache.Size == 0 {
		t.Fatalf("block cache: %d hits, %d misses, %d bytes held: reads are not cached",
			m.BlockCache.Hits, m.BlockCache.Misses, m.BlockCache.Size)
	}
	t.Logf("block cache: %d hits, %d misses, %d bytes held", m.BlockCache.Hits, m.BlockCache.Misses, m.BlockCache.Size)
}

func key(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/k/%08d", i)) }
