// Package ledger owns Parley's events and the per-room ledger they form.
//
// An Event is one signed entry of a room: room ID, author (an Ed25519
// libp2p key), kind, body, the author's claimed time, a Lamport clock and
// the IDs of its parents (the room heads the author had seen). Its signed
// fields have one canonical binary encoding, sealed in a libp2p
// record.Envelope under the domain "parley-event"; the envelope's bytes are
// the event's bytes, kept as received and never re-encoded, and the event's
// ID is the sha2-256 multihash of them (see ComputeID, ID.String).
//
//	ev, err := ledger.Sign(key, ledger.Draft{Room: r, Kind: ledger.KindMsg, Body: b, Time: now, Lamport: 1})
//	ev, err := ledger.Decode(raw) // size, envelope, signature, canonical form, limits
//
// A Ledger keeps the hash-linked DAG of every room in one go-datastore
// Batching store (Pebble on disk in the node, an in-memory map in tests):
//
//	l, _ := ledger.Open(ctx, store, ledger.Config{OnCommit: feed})
//	ev, _ := l.Append(ctx, key, room, ledger.KindMsg, body, time.Now()) // our own event
//	added, rejected, _ := l.Add(ctx, room, evs...)                      // others' events
//	page, _ := l.History(ctx, room, before, 50)                         // (Lamport, ID) order
//	rep, _ := l.Verify(ctx, room)                                       // names the first bad event
//
// The properties the rest of Parley relies on:
//   - P1 tamper evidence: Verify re-checks every stored event from its bytes
//     (signature, ID, room, position, parents, clock) plus the heads and a
//     per-room accumulator, so an altered, removed or reordered event is
//     named.
//   - P2 authenticity: Decode and Add refuse bad signatures, IDs, rooms,
//     sizes and parents; nothing invalid is written.
//   - P3 deterministic order: history is sorted by (Lamport, ID); two
//     ledgers holding the same events return the same bytes in the same order.
//   - P5 durability: writes go through one commit goroutine that groups
//     concurrent writers into one batch (one fsync); Append returns only
//     after its batch is written and flushed, and a room's batches land
//     parents before children.
//
// All Ledger methods are safe for concurrent use.
//
// # Where to start
//
// Read ledger.go (the Ledger type, Open and Close), then follow a write:
// write.go checks and stages Append and Add under the room's own lock
// (room.go holds the per-room state: heads, summary, the recent-events
// index and the staged events; heads.go orders the heads and chooses a new
// event's parents, never from strangers' roots, narrowed per room by
// Config.Parents; authors.go indexes who has written in each room).
// Config.Check lets the caller refuse events by its room's own rules
// (chat's moderation) before they are staged, on Append and Add alike.
// commit.go is the committer, whose commit goroutine forms groups (Appends first, then each room's Adds in turn),
// holds a group of only Adds back while a send awaits its fsync, and
// writes each group as one batch; flush.go is its flush goroutine, which
// fsyncs groups holding our events and acknowledges them in order.
// take_test.go drives the committer's queue by hand and shows each of
// these rules; BenchmarkAppendDuringCatchUp measures them on Pebble.
// read.go serves History and Since; sync.go is the data side of set
// reconciliation for p2p/ledgersync (fingerprint.go: the v1 XOR and v2 sum
// accumulators; meta.go: the room summary record and its migration); verify.go is Verify; keys.go is the
// datastore layout; event.go, codec.go and signature.go are the event
// format. config.go holds Config and its defaults.
package ledger
