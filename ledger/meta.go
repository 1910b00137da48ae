package ledger

import (
	"context"
	"encoding/binary"
	"fmt"

	ds "github.com/ipfs/go-datastore"
)

// meta is a room's summary, rewritten with every batch: the event count,
// the largest Lamport clock and the ID accumulators (fingerprint.go). The
// accumulators change when any event is removed or replaced, so Verify
// notices that even when nothing references the event.
type meta struct {
	count      uint64
	maxLamport uint64
	acc        accumulator
}

// Room summary record formats. Version 1 (48 bytes, no version byte):
// count(8) | maxLamport(8) | xor(32). Version 2 (81 bytes):
// 2 | count(8) | maxLamport(8) | xor(32) | sum(32, little-endian).
const (
	metaV1Len   = 48
	metaVersion = 2
	metaV2Len   = 1 + 8 + 8 + 32 + 32
)

func (m meta) marshal() []byte {
	b := make([]byte, 0, metaV2Len)
	b = append(b, metaVersion)
	b = binary.BigEndian.AppendUint64(b, m.count)
	b = binary.BigEndian.AppendUint64(b, m.maxLamport)
	b = append(b, m.acc.xor[:]...)
	s := unlimbs(m.acc.sum)
	return append(b, s[:]...)
}

// unmarshalMeta parses a summary record. legacy is true for a version 1
// record, whose sum is missing (zero) until migrateMeta recomputes it.
func unmarshalMeta(b []byte) (m meta, legacy bool, err error) {
	switch {
	case len(b) == metaV1Len:
		m.count = binary.BigEndian.Uint64(b)
		m.maxLamport = binary.BigEndian.Uint64(b[8:])
		copy(m.acc.xor[:], b[16:])
		return m, true, nil
	case len(b) == metaV2Len && b[0] == metaVersion:
		b = b[1:]
		m.count = binary.BigEndian.Uint64(b)
		m.maxLamport = binary.BigEndian.Uint64(b[8:])
		copy(m.acc.xor[:], b[16:48])
		m.acc.sum = limbs([32]byte(b[48:80]))
		return m, false, nil
	}
	if len(b) == 0 {
		// An emptied record has no version byte to report; reading b[0]
		// would crash the daemon instead of letting Verify name the room.
		return m, false, fmt.Errorf("room meta: 0 bytes, want %d or %d", metaV1Len, metaV2Len)
	}
	return m, false, fmt.Errorf("room meta: %d bytes (version %d), want %d or %d", len(b), b[0], metaV1Len, metaV2Len)
}

// migrateMeta upgrades a version 1 summary of room in place: it computes
// the sum accumulator from a keys-only scan of the room's order index and
// writes the record back as version 2. Count, max Lamport and XOR stay as
// recorded, so Verify still compares them with the stored events. It runs
// once per room, when the room is first loaded after an upgrade, under the
// room's lock and before any write of this process is staged for it.
func (l *Ledger) migrateMeta(ctx context.Context, room string, m *meta) error {
	var sum [4]uint64
	err := l.scanOrder(ctx, room, 0, ^uint64(0), true, func(k Key, _ []byte) (bool, error) {
		sum = addLimbs(sum, limbs(IDHash(k.ID)))
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("migrate summary of %s: %w", room, err)
	}
	m.acc.sum = sum
	if err := l.ds.Put(ctx, ds.RawKey(metaKey(room)), m.marshal()); err != nil {
		return fmt.Errorf("migrate summary of %s: %w", room, err)
	}
	l.log.Info("room summary upgraded", "room", room, "version", metaVersion, "events", m.count)
	return nil
}
