// Package node owns a Parley node's configuration, data directory,
// keystore, and the wiring and lifecycle of its parts.
//
// Start reading at New in node.go (what starts, in which order) and
// datadir.go (what is on disk). The data directory is --data, else
// $PARLEY_DATA, else the OS's place for it (DefaultDataDir): ~/.parley on
// Linux and BSD, ~/Library/Application Support/Parley on macOS,
// %LocalAppData%\Parley on Windows. It holds:
//
//	identity.key  Ed25519 private key (libp2p protobuf), mode 0600
//	config.toml   settings, written with commented defaults by Init
//	datastore/    Pebble: ledger, membership, known peers
//	rpc.addr      URL of the running daemon's JSON-RPC endpoint
//	rpc.token     bearer token for the RPC, mode 0600
//	lock          held while a daemon runs, so two never share the directory
//	              (flock on Unix, LockFileEx on Windows: datadir_*.go)
//
// New starts, in order: lock, identity, datastore, p2p (host, DHT,
// gossipsub), chat (with its ledger), ledger sync, RPC; Close stops them in
// reverse, bounded by ShutdownTimeout. A failing New leaves nothing running.
// A damaged identity or config file is an error naming the file; the node
// never replaces the identity silently.
package node
