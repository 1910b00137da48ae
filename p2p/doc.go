// Package p2p is Parley's network layer: one libp2p host with its
// Kademlia DHT and gossipsub router.
//
// # Starting a node
//
// Start from DefaultConfig, which listens on port 4747 (TCP and QUIC v1,
// IPv4 and IPv6) and runs the DHT in auto mode, add bootstrap peers, and
// call New with the node's Ed25519 identity:
//
//	cfg := p2p.DefaultConfig()
//	cfg.BootstrapPeers = []string{"/ip4/203.0.113.7/tcp/4747/p2p/12D3KooW..."}
//	n, err := p2p.New(ctx, key, cfg)
//	if err != nil { ... }
//	defer n.Close()
//
// The host speaks TCP and QUIC, secures connections with Noise or TLS,
// multiplexes with yamux (over a connection that writes the frames queued
// behind a write in progress together: coalesce.go), and runs under a
// connection manager (Config.ConnMgrLow/High) and an autoscaled resource
// manager. NAT port mapping runs only when Config.NATPortMap is set. No
// peer is built in: bootstrap peers come only from Config.BootstrapPeers.
// The node dials them in the background with exponential backoff for its
// whole life, protects them in the connection manager, and bootstraps the
// DHT once connected; New does not wait for them.
//
// NewWithHost runs the same node on a host the caller built, such as a
// mocknet host in tests. In both cases the Node owns the host and closes it.
//
// # DHT
//
// The DHT uses protocol prefix DHTProtocolPrefix ("/parley", so
// /parley/kad/1.0.0): a private Parley network, never the public IPFS DHT
// and never its default bootstrap peers. Config.DHTMode is "auto" for user
// nodes and "server" for bootstrap nodes. DHT exposes it for rendezvous.
//
// # Topics
//
// JoinTopic joins a gossipsub topic by its full name (callers choose names,
// e.g. "/parley/room/<room-id>") with two callbacks:
//
//	t, err := n.JoinTopic(name,
//		func(ctx context.Context, from peer.ID, data []byte) (any, error) {
//			return decodeAndVerify(data) // error: reject, do not forward
//		},
//		func(from peer.ID, data []byte, validated any) {
//			queue(validated.(*Event)) // on the validation worker: must not block
//		})
//	err = t.Publish(ctx, data)
//	err = t.Close()
//
// validate runs for every message, locally published ones included, before
// it is forwarded or delivered; a rejected message is dropped and lowers
// the sender's peer score. deliver runs for messages from peers right
// after validate accepts, on the same pubsub validation worker (the node
// relays the topic rather than subscribing, so nothing waits in pubsub's
// event loop); it may run concurrently with itself and must not block.
// The node's own published messages are validated, not delivered.
// Gossipsub runs with StrictNoSign and no author field: authenticity is
// the payload's business (ledger events are signed). The message ID is
// ledger.ComputeID of the payload, i.e. the event ID, so a payload is
// delivered once however many peers forward it. Peer scoring is on, with per-topic parameters that
// penalise invalid messages hard.
//
// p2p does not import chat. ValidateFunc, DeliverFunc and Topic are
// aliases of unnamed types so that Node satisfies chat.Network
// structurally once chat declares its matching types as aliases too; while
// chat uses defined types, a three-line adapter is needed (see chatNetwork
// in node_test.go). A DeliverFunc must not call its own Topic's Close:
// Close waits for running deliver calls.
//
// # Discovery and NAT traversal
//
// Each joined topic runs a discovery goroutine (stopped by Topic.Close):
// it advertises the topic name in the DHT (rendezvous, go-libp2p
// RoutingDiscovery) and, while the topic has fewer than
// Config.RoomMinPeers peers, searches for the other members with backoff
// and dials them, falling back to circuits through the bootstrap peers
// when a direct dial fails. Config.MDNS finds Parley nodes on the LAN
// (service MDNSServiceName).
//
// Config.Bootstrap makes a community bootstrap node: DHT server, circuit
// relay v2 service without per-circuit limits (gossipsub does not use
// "limited" connections; see relayResources), AutoNAT service, forced
// public reachability and fixed resource limits. User nodes run the
// AutoNAT client, hole punching and AutoRelay with their bootstrap peers
// as static relays. Reachability and RelayAddrs report the outcome.
//
// With Config.Datastore the node remembers the peers it met (KnownPeers,
// at most Config.MaxKnownPeers) and redials them on start. See
// docs/DISCOVERY.md for the whole picture.
//
// # Peers and addresses
//
// Self, Addrs (full multiaddrs ending in /p2p/<id>), Peers and Connect
// (dial a full multiaddr) back the node_info, node_peers and node_connect
// RPC methods.
//
// # Shutdown
//
// Close is idempotent. It closes topics (waiting for their deliver calls
// and discovery goroutines), stops mDNS, the bootstrap, reconnect and event
// loops and pubsub, closes the DHT and the
// host, and returns the joined errors. Logging goes through log/slog with
// subsystem=p2p.
package p2p
