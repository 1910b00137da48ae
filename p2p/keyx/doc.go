// Package keyx is the key-bundle exchange protocol, ProtocolID
// ("/parley/keys/1.0.0"): a node serves its current signed key bundle
// (chat/e2ee.SignedBundle) and fetches the bundle of every peer it meets.
//
// Where to start reading: service.go (New, Fetch, the on-connect watcher
// and the handler), wire.go (the one request byte and the one bounded
// reply), config.go (defaults and the resource-manager limits).
//
// Once identify has completed with a peer that lists ProtocolID, the
// Service opens one stream, sends the version byte and reads one reply
// of at most MaxReplySize bytes before Config.Timeout; the bundle must
// parse and be signed by that peer (ErrWrongPeer otherwise), and goes to
// Config.OnBundle. Whether it is current and not a rollback is for the
// caller's e2ee.BundleBook to decide. Fetch does the same on demand.
//
// A peer costs at most: ServeBurst answered requests per ServeWindow
// (more are reset unanswered), two streams each way at a time in the
// resource manager's ServiceName scope (AddServiceLimits; the host must
// add them), one on-connect fetch per Refetch, and MaxReplySize+1 bytes
// read per fetch. Garbage, oversized replies and bundles of other peers
// are refused with a wrapped sentinel (ErrMalformed, ErrTooLarge,
// ErrWrongPeer, e2ee.ErrBadSignature, e2ee.ErrMalformed).
//
// Logging goes through log/slog with subsystem=keyx.
package keyx
