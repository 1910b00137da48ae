// Package node owns a Parley node's configuration, data directory,
// keystore, and the wiring and lifecycle of its parts.
//
// Start reading at New in node.go (what starts, in which order) and
// datadir.go (what is on disk); the identity file is keystore.go (load,
// check), protect.go (init --passphrase) and keyfile.go (the protected
// format, docs/SECURITY.md). The data directory is --data, else
// $PARLEY_DATA, else the OS's place for it (DefaultDataDir): ~/.parley on
// Linux and BSD, ~/Library/Application Support/Parley on macOS,
// %LocalAppData%\Parley on Windows. It holds:
//
//	identity.key  Ed25519 private key (libp2p protobuf), or, protected by a
//	              passphrase, that key and a data key sealed under Argon2id
//	              and XChaCha20-Poly1305 (keyfile.go)
//	config.toml   settings, written with commented defaults by Init
//	datastore/    Pebble: ledger, membership, known peers
//	rpc.addr      URL of the running daemon's JSON-RPC endpoint
//	rpc.token     bearer token for the RPC
//	lock          held while a daemon runs, so two never share the directory
//	              (flock on Unix, LockFileEx on Windows: datadir_*.go)
//	keyring.json  key-bundle KEM seeds sealed under the data key, signed
//	              bundles, highest seq (keyringfile.go)
//
// All of it is private to the user: on Unix the directory and datastore/
// are 0700 and the files the node writes 0600; a start tightens looser
// modes with a warning and refuses an entry it cannot fix because another
// user owns it (secureDataDir, datadir_perm_*.go). On Windows the
// per-user ACL of %LocalAppData% does this job.
//
// Key bundles: bundles.go makes this node's (keyring.go: key pairs on
// disk, rotation and erasure; keyringfile.go: the file, seeds sealed
// under the data key), keeps peers' in the datastore (bundlebook.go),
// serves and fetches them over /parley/keys/1.0.0 and
// the DHT, and answers Bundle lookups. They start after p2p and before
// chat, and not on a bootstrap node. p2p knows no bundle format: node
// hands it e2ee's DHT validator (every node, bootstrap ones too) and
// keyx's size bound and Verify (parseBundleOf).
//
// Private-room streams: e2eadmit.go (an invite's admission) and
// e2edm.go (a DM's hand-over) serve chat through e2estream.go's guard,
// which rate-limits them per peer, bounds how many run, puts them in
// p2p's parley.e2ee resource scope, frames their answers and ends them on
// Close.
//
// New starts, in order: lock, identity, datastore, p2p (host, DHT,
// gossipsub), chat (with its ledger), ledger sync, RPC; Close stops them in
// reverse, bounded by ShutdownTimeout. A failing New leaves nothing running.
// A damaged identity or config file is an error naming the file; the node
// never replaces the identity silently. A protected identity is unlocked
// through Options.Passphrase, asked only when the file is protected.
package node
