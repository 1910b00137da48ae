// Package ledgersync implements Parley's ledger sync stream protocol,
// ProtocolID ("/parley/sync/2.0.0"; "/parley/sync/1.0.0", ProtocolV1, is
// still served and asked for when a peer lacks 2.0.0, for one release): two
// members of a room reconcile their event sets with range-based set
// reconciliation over the room's (Lamport, ID) order, and the requester pulls exactly the events it lacks,
// verified (ledger.Decode, in parallel) and stored parents first through
// Store.Ingest. Wire cost grows with the difference between the two sets,
// not with the room's size; the wire format is specified in
// docs/PROTOCOL.md, section "Sync".
//
// A Syncer serves the protocol for the Store's joined rooms and syncs in
// the background:
//
//	sy, err := ledgersync.New(host, store, ledgersync.Config{})
//	defer sy.Close()
//	stats, err := sy.Sync(ctx, peerID, roomID) // one session, blocking
//	sy.Trigger(roomID, peerID)                 // async, deduplicated
//	st := sy.Status(roomID)                    // for node_info and room methods
//
// Background syncs start when a peer that speaks the protocol is identified
// (every joined room with that peer), every Config.Interval (each joined
// room with one connected peer), and on Trigger (chat's OnMissing hook).
//
// Peers are untrusted: frames, ranges, rounds, events and bytes per session
// are bounded, every read and write has a deadline, at most one session runs
// per peer, room and direction, and a peer that sends a malformed frame or
// an invalid, foreign or unrequested event ends the session (nothing of
// that frame is stored) and is reported through Config.OnMisbehave.
package ledgersync
