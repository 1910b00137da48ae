// Package p2p is Parley's network layer: one libp2p host with its
// Kademlia DHT and gossipsub router.
//
// Where to start reading: node.go (New, NewWithHost, Close) builds and
// stops everything; topic.go is what chat reaches through node's adapter
// (JoinTopic, the validator that delivers); pubsub.go holds the gossipsub
// parameters and scores; gossiplimits.go what gossipsub may hold for
// strangers in bytes (MaxMessageSize, queue sizes) and how costly peers
// are gated (peer gater, graylist via PeerScore); gater.go is Block, the
// time-bounded block list that refuses misbehaving peers at the
// connection gater and sinks their gossipsub score; access.go is how a
// private room's topic admits only its members (WithAllow); discovery.go,
// dht.go and nat.go find peers.
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
// nodes and "server" for bootstrap nodes. DHT exposes it for rendezvous
// and for the caller's records: Config.RecordValidators registers a
// validator per namespace, and the DHT stores, serves and takes from a
// query only what it accepts (dht.go). node registers the key-bundle
// namespace /parley-keys/ this way, so p2p knows no record format;
// p2p/keyx exchanges the same bundles, as opaque bytes, directly between
// connected peers.
//
// # Topics
//
// JoinTopic joins a gossipsub topic by its full name (callers choose names,
// e.g. "/parley/room/<room-id>") with its one validator and a deliver
// callback:
//
//	t, err := n.JoinTopic(name,
//		func(ctx context.Context, from peer.ID, data []byte) (any, p2p.ValidationResult, error) {
//			ev, err := decodeAndVerify(data)
//			if err != nil {
//				return nil, p2p.ValidationReject, err // dropped, sender penalised
//			}
//			return ev, p2p.ValidationAccept, nil
//		},
//		func(from peer.ID, data []byte, validated any) {
//			queue(validated.(*Event)) // on the validation worker: must not block
//		})
//	err = t.Publish(ctx, data)
//	err = t.Close()
//
// The validator runs for every message, locally published ones included,
// before it is forwarded or delivered, and returns a typed verdict
// (ValidationResult, pubsub's values one for one): accept, reject (dropped,
// and the forwarder's peer score drops) or ignore (dropped, nobody
// penalised); its error is only logged. Delivery comes from the validator
// itself: pubsub runs it once per message ID per seen window and its
// verdict is final, so deliver runs at most once per message, right after
// an accept, on the same validation worker. The node relays the topic
// rather than subscribing, so nothing waits in pubsub's event loop or in a
// subscription buffer, which would drop messages when full. deliver may
// run concurrently with itself and must not block. The node's own
// published messages are validated, never delivered. A topic has one
// validator: joining it again before Close returns ErrTopicJoined.
// Gossipsub runs with StrictNoSign and no author field: authenticity is
// the payload's business (ledger events are signed). The message ID is
// ledger.ComputeID of the payload, i.e. the event ID, so a payload is
// delivered once however many peers forward it. Peer scoring is on, with
// per-topic parameters that penalise invalid messages hard.
//
// # Private topics
//
// JoinTopic takes options. WithAllow(func(peer.ID) bool) admits only the
// peers the rule accepts: a refused peer's subscription is dropped on
// arrival, so it is never in the topic's peer list, never flood-published
// to or gossiped with; its GRAFT, IHAVE and IWANT are ignored; its
// messages on the topic are stripped before validation. It still sees our
// subscription to the topic's name (pubsub announces it to every peer), so
// a private room's name derives from its epoch secret. WithRendezvous sets
// the DHT rendezvous string (default the topic name; "" none) and
// Topic.SetRendezvous rotates it without leaving the topic. The node
// reaches both through node's JoinPrivate; docs/PROTOCOL.md ("Private
// rooms on the wire") lists what an outsider sees.
//
// p2p does not import chat, and chat does not import p2p: chat declares
// the transport it needs (chat.Network, with its own types and verdict)
// and node adapts a Node to it (node/network.go). A DeliverFunc must not
// call its own Topic's Close: Close waits for running deliver calls.
//
// # Discovery and NAT traversal
//
// Each joined topic runs a discovery goroutine (stopped by Topic.Close):
// it advertises the topic's rendezvous string (its name by default) in the DHT (rendezvous, go-libp2p
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
// With Config.Datastore the node remembers peers it dialled, at the public
// address it reached them at (KnownPeers, at most Config.MaxKnownPeers, 2
// per address group; peerbook.go says why nothing a peer claims is kept),
// and redials them on start. See docs/DISCOVERY.md for the whole picture.
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
