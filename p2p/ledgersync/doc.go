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
// Where to start reading: syncer.go (New, Sync, Trigger, the background
// workers and their retries), then requester.go and responder.go (the two
// sides of one session), recon.go (range splitting) and wire.go (frames).
// timing_test.go shows the timed behaviour (settle, periodic, busy and
// limit retries) in virtual time on simulated hosts.
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
// Config.Allow is the access rule of private rooms (chat supplies it):
// a refused peer's Hello gets the answer of a room we never joined, byte
// for byte, and we never send one a Hello (a Hello names the room);
// access_test.go plays that outsider.
//
// Peers are untrusted: frames, ranges, rounds, events and bytes per session
// are bounded, every read and write has a deadline, at most one session runs
// per peer, room and direction, and a peer that sends a malformed frame or
// an invalid, foreign or unrequested event ends the session (nothing of
// that frame is stored), is refused sync both ways for Config.BlockFor,
// is blocked at the connection level through Config.Blocker (the node's
// gater and gossipsub score), and is reported through Config.OnMisbehave.
// New inbound sessions pass go-libp2p's x/rate limiter (global, per /24
// and /56, loopback exempt); every sync stream runs in the resource
// manager's ServiceName scope (limits.go: AddServiceLimits), and a frame
// over 64 KiB is reserved there before it is read; a requester's round
// is answered frame by frame, not buffered; events a responder pushes
// without their parents are held within Config.MaxDeferredBytes; and a
// session that keeps stopping at a limit is retried with a growing delay.
// limits_test.go, limits_rcmgr_test.go and amplify_test.go play each of
// these attackers.
package ledgersync
