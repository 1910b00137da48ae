package ledger

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Datastore layout (all under whatever namespace the caller wraps us in):
//
//	/r/<room>/o/<hi>/<lo>/<id>  seq(8) | signed bytes   order index: (Lamport, ID)
//	/r/<room>/e/<id>            lamport(8)              lookup by ID
//	/r/<room>/h/<id>            lamport(8) | author     current heads (empty in older ledgers)
//	/r/<room>/a/<author>        (empty)                 authors with an accepted event
//	/r/<room>/m                 meta                    version, count, max Lamport, ID accumulators (meta.go)
//	/s/<hi>/<lo>                <room>/<hi>/<lo>/<id>   local arrival order (cursor)
//	/rm/<room>                  (empty)                 rooms with events
//
// Numbers are split into <hi> = v>>8 (14 hex digits) and <lo> = v&0xff (2
// hex digits). go-datastore queries have no seek, only prefixes, so a page
// "before X" or "after cursor" starts with the bucket that holds X and walks
// whole buckets from there: at most one bucket is skipped (256 Lamport
// levels or sequence numbers; in the order index, as many events as were
// written on those levels), whatever the ledger's length.

// splitNum renders v as "<hi>/<lo>" (14 and 2 hex digits) without fmt:
// it is on the write path of every event.
func splitNum(v uint64) string {
	var b [17]byte
	putHex(b[:14], v>>8)
	b[14] = '/'
	putHex(b[15:], v&0xff)
	return string(b[:])
}

func bucketKey(v uint64) string {
	var b [14]byte
	putHex(b[:], v>>8)
	return string(b[:])
}

// putHex writes v as len(dst) lower-case hex digits, zero padded.
func putHex(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

func roomPrefix(room string) string { return "/r/" + room }

func orderPrefix(room string) string { return roomPrefix(room) + "/o" }

// orderSuffix is "<room>/o/<hi>/<lo>/<id>", the part after "/r/".
func orderSuffix(room string, lamport uint64, id ID) string {
	return orderSuffixText(room, lamport, id.String())
}

func orderKey(room string, lamport uint64, id ID) string {
	return "/r/" + orderSuffix(room, lamport, id)
}

// The keys below are written in one concatenation each (one allocation):
// they are on the write path of every event.
func idKey(room string, id ID) string   { return idKeyText(room, id.String()) }
func headKey(room string, id ID) string { return headKeyText(room, id.String()) }

// The ...Text forms take the ID's text form (ID.String), so that a new
// event's keys share one rendering of it.
func orderSuffixText(room string, lamport uint64, id string) string {
	return room + "/o/" + splitNum(lamport) + "/" + id
}
func idKeyText(room, id string) string   { return "/r/" + room + "/e/" + id }
func headKeyText(room, id string) string { return "/r/" + room + "/h/" + id }
func metaKey(room string) string         { return "/r/" + room + "/m" }
func seqKey(seq uint64) string           { return "/s/" + splitNum(seq) }
func roomListKey(room string) string     { return "/rm/" + room }

// parseOrderKey extracts lamport and ID from an order-index key.
func parseOrderKey(key string) (lamport uint64, id ID, err error) {
	// .../o/<hi>/<lo>/<id>
	parts := strings.Split(key, "/")
	if len(parts) < 4 {
		return 0, "", fmt.Errorf("malformed order key %q", key)
	}
	n := len(parts)
	hi, err1 := strconv.ParseUint(parts[n-3], 16, 64)
	lo, err2 := strconv.ParseUint(parts[n-2], 16, 64)
	if err1 != nil || err2 != nil || lo > 0xff || len(parts[n-3]) != 14 || len(parts[n-2]) != 2 {
		return 0, "", fmt.Errorf("malformed order key %q", key)
	}
	id, err = ParseID(parts[n-1])
	if err != nil {
		return 0, "", fmt.Errorf("order key %q: %w", key, err)
	}
	return hi<<8 | lo, id, nil
}

// parseSeqKey extracts the sequence number from a /s key.
func parseSeqKey(key string) (uint64, error) {
	parts := strings.Split(key, "/")
	n := len(parts)
	if n < 3 {
		return 0, fmt.Errorf("malformed seq key %q", key)
	}
	hi, err1 := strconv.ParseUint(parts[n-2], 16, 64)
	lo, err2 := strconv.ParseUint(parts[n-1], 16, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed seq key %q", key)
	}
	return hi<<8 | lo, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
