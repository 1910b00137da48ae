// Package keyx is the key-bundle exchange protocol, ProtocolID
// ("/parley/keys/1.0.0"): a node serves its current signed key bundle and
// fetches the bundle of every peer it meets. To keyx a bundle is opaque
// bytes of at most Config.MaxSize: the caller encodes them and checks
// them (Config.Verify), so p2p knows nothing of chat's formats. node runs
// it with chat/e2ee's signed bundles (MaxSize e2ee.MaxBundleSize, Verify
// parsing the bundle and requiring it be signed by the peer that served
// it).
//
// Where to start reading: service.go (New, Fetch, the on-connect watcher
// and the handler), wire.go (the one request byte and the one bounded
// reply), config.go (defaults, the caller's MaxSize and Verify, and the
// resource-manager limits).
//
// Once identify has completed with a peer that lists ProtocolID, the
// Service opens one stream, sends the version byte and reads one reply
// of at most ReplySize(MaxSize) bytes before Config.Timeout; the bundle
// must pass Config.Verify, and goes to Config.OnBundle. Whether it is
// current and not a rollback is for the caller to decide. Fetch does the
// same on demand.
//
// A peer costs at most: ServeBurst answered requests per ServeWindow
// (more are reset unanswered), two streams each way at a time in the
// resource manager's ServiceName scope (AddServiceLimits; the host must
// add them), one on-connect fetch per Refetch, and ReplySize(MaxSize)+1
// bytes read per fetch. Garbage and oversized replies are refused with a
// wrapped sentinel (ErrMalformed, ErrTooLarge), a bundle Verify refuses
// with Verify's error (node's wraps ErrWrongPeer for another peer's).
//
// Logging goes through log/slog with subsystem=keyx.
package keyx
