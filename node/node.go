package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/metrics"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/p2p"
	"github.com/parley-chat/parley/p2p/ledgersync"
	"github.com/parley-chat/parley/rpc"
)

// Version is the node's version, reported by node_info.
var Version = "0.1.0-dev"

// Options configure a Node beyond its Config.
type Options struct {
	// DataDir holds the identity, config, datastore and RPC files. Required.
	DataDir string
	// Config is the effective configuration (file merged with flags).
	Config Config
	// Bootstrap runs a community bootstrap node: DHT server, no chat.
	Bootstrap bool
	// Host, if set, is used instead of building a libp2p host (tests use
	// mocknet). The node takes ownership and closes it. Its identity
	// should be the data directory's: events and key bundles are signed
	// by that key, and peers refuse a bundle served by another peer than
	// the one it names.
	Host host.Host
	// Datastore, if set, is used instead of Pebble under DataDir (tests use
	// an in-memory one). The node does not close it.
	Datastore ds.Batching
	// NoRPC skips the JSON-RPC server (in-process tests that call chat directly).
	NoRPC bool
	// Chat adjusts the chat configuration (tests and benchmarks raise the
	// gossip rate limits).
	Chat func(*chat.Config)
	// Bundles adjusts the key-bundle lifecycle (tests shorten it).
	Bundles func(*BundleConfig)
	// Sync adjusts the ledger sync configuration (tests, benchmarks).
	Sync func(*ledgersync.Config)
	// DMInbox sets the timing of the direct-message inbox (zero:
	// DefaultDMInboxConfig).
	DMInbox DMInboxConfig
	// P2P adjusts the p2p configuration after it is derived from Config
	// (tests shorten timers).
	P2P func(*p2p.Config)
	// RPC adjusts the JSON-RPC configuration after it is derived from
	// Config (tests shorten the WebSocket write deadline).
	RPC func(*rpc.Config)
	// Logger is the parent logger; nil means slog.Default().
	Logger *slog.Logger
	// Passphrase unlocks a passphrase-protected identity (parley init
	// --passphrase); it is called only if the identity is protected. Nil
	// makes a protected identity ErrPassphraseRequired.
	Passphrase PassphraseFunc
}

// Node is a running Parley node: identity, datastore, libp2p, chat and the
// RPC server, started in that order and closed in reverse.
type Node struct {
	opts  Options
	log   *slog.Logger
	key   crypto.PrivKey
	lock  *dirLock
	store ds.Batching
	own   bool // we opened store and must close it
	p2p   *p2p.Node
	chat  *chat.Service
	e2ee  []*e2eeGuard // private-room stream protocols, closed before chat
	inbox *dmInbox     // direct conversations for offline peers (nil on a bootstrap node)
	sync  *ledgersync.Syncer
	rpc   *rpc.Server

	bundles *bundles         // nil on a bootstrap node
	met     *metrics.Metrics // nil unless Config.Metrics

	// dataKey seals what the node keeps of private content at rest:
	// the keyring's seeds and chat's private rooms (chatKeys).
	dataKey []byte

	closeOnce sync.Once
	closeErr  error
}

// ShutdownTimeout bounds Close.
const ShutdownTimeout = 10 * time.Second

// New starts a node. On error everything it started is stopped again.
func New(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("node: no data directory")
	}
	cfg := opts.Config.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	opts.Config = cfg
	limits, _ := cfg.chatLimits() // checked by Validate
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &Node{opts: opts, log: log.With("subsystem", "node")}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	if _, err := initDataDir(opts.DataDir, n.log); err != nil {
		return nil, err
	}
	if n.lock, err = lockDataDir(opts.DataDir); err != nil {
		return nil, err
	}
	// A previous daemon killed without Close left its endpoint behind;
	// clients must not mistake it for ours.
	os.Remove(filepath.Join(opts.DataDir, RPCAddrFile))
	start := time.Now()
	keys, err := LoadKeys(filepath.Join(opts.DataDir, KeyFile), opts.Passphrase)
	if err != nil {
		return nil, err
	}
	n.key, n.dataKey = keys.Identity, keys.DataKey
	if keys.Protected {
		n.log.Info("identity unlocked", "took", time.Since(start).Round(time.Millisecond))
	}

	if opts.Datastore != nil {
		n.store = opts.Datastore
	} else {
		path := filepath.Join(opts.DataDir, DatastoreDir)
		// Pebble would create it 0755; an existing one was checked by
		// initDataDir.
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, fmt.Errorf("create datastore dir %s: %w", path, err)
		}
		pds, err := store.OpenPebble(path)
		if err != nil {
			return nil, fmt.Errorf("open datastore %s: %w (if it is damaged, move it away and the node starts empty; peers can sync rooms back)", path, err)
		}
		n.store, n.own = pds, true
	}

	if cfg.Metrics {
		n.met = metrics.New()
	}

	// p2p and chat report events for the syncer before it exists; the
	// pointer bridges them during start.
	var syncer atomic.Pointer[ledgersync.Syncer]
	// Chat names the room of each topic (a private room's are epoch
	// hashes); it exists once p2p has started.
	var chatSvc atomic.Pointer[chat.Service]

	pcfg := p2p.DefaultConfig()
	pcfg.OnTopicPeer = func(topic string, p peer.ID) {
		// A peer joined one of our rooms: reconcile with it right away
		// and once the mesh has formed, so whatever either side missed
		// (time offline, gossip while the mesh formed) arrives without
		// waiting for the periodic sync.
		s, c := syncer.Load(), chatSvc.Load()
		if s == nil || c == nil {
			return
		}
		if room, ok := c.RoomOfTopic(topic); ok {
			s.PeerJoined(room, p)
		}
	}
	pcfg.ListenAddrs = cfg.Listen
	pcfg.BootstrapPeers = cfg.Peers
	pcfg.Logger = log
	if cfg.MDNS != nil {
		pcfg.MDNS = *cfg.MDNS
	}
	if cfg.NATPortMap != nil {
		pcfg.NATPortMap = *cfg.NATPortMap
	}
	if opts.Bootstrap {
		pcfg.Bootstrap = true // DHT server, relay v2 and AutoNAT services, public-host limits
	}
	pcfg.Datastore = namespace.Wrap(n.store, ds.NewKey("/peers")) // remembered peers
	pcfg.Registerer = n.met.Registerer()                          // nil without metrics
	// Every node, bootstrap ones too, keeps only valid key bundles in the
	// DHT: p2p knows no record format, so the node brings e2ee's.
	pcfg.RecordValidators = map[string]record.Validator{e2ee.KeyNamespace: e2ee.BundleValidator{}}
	if opts.P2P != nil {
		opts.P2P(&pcfg)
	}
	if opts.Host != nil {
		n.p2p, err = p2p.NewWithHost(ctx, opts.Host, pcfg)
	} else {
		n.p2p, err = p2p.New(ctx, n.key, pcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("start p2p: %w", err)
	}

	if !opts.Bootstrap {
		if err := n.startBundles(ctx); err != nil {
			return nil, err
		}
		ccfg := chat.Config{
			Name:   cfg.Name,
			Logger: log,
			OnMissing: func(room string, from peer.ID) {
				if s := syncer.Load(); s != nil {
					s.Trigger(room, from)
				}
			},
			OnJoin: func(room string) {
				if s := syncer.Load(); s != nil {
					s.Trigger(room, "")
				}
			},
		}
		if n.met != nil {
			ccfg.Metrics = n.met
		}
		ccfg.Keys = chatKeys{n}
		adm := newAdmission(n.p2p.Host())
		n.e2ee = append(n.e2ee, adm.guard)
		ccfg.Admission = adm
		dms := newDMDelivery(n.p2p.Host())
		n.e2ee = append(n.e2ee, dms.guard)
		ccfg.DMDelivery = dms
		if err := opts.DMInbox.Validate(); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.inbox = newDMInbox(n, dms, opts.DMInbox)
		ccfg.Limits = limits
		if opts.Chat != nil {
			opts.Chat(&ccfg)
		}
		n.chat, err = chat.New(chatNetwork{n.p2p}, n.store, n.key, ccfg)
		if err != nil {
			return nil, err
		}
		adm.chat, dms.chat = n.chat, n.chat
		chatSvc.Store(n.chat)
		adm.serve()
		dms.serve()
		n.inbox.chat = n.chat
		n.inbox.start()
		scfg := ledgersync.DefaultConfig()
		scfg.Logger = log
		scfg.Blocker = n.p2p // misbehaviour blocks at the gater, not only sync
		scfg.Allow = syncStore{n.chat}.allowSync
		if n.met != nil {
			scfg.OnSession = syncSessionMetrics(n.met)
		}
		if opts.Sync != nil {
			opts.Sync(&scfg)
		}
		if n.sync, err = ledgersync.New(n.p2p.Host(), syncStore{n.chat}, scfg); err != nil {
			return nil, fmt.Errorf("start sync: %w", err)
		}
		syncer.Store(n.sync)
		n.met.WatchLedger(roomSizes(n.chat))
	}

	if !opts.NoRPC {
		if err := n.startRPC(); err != nil {
			return nil, err
		}
	}
	n.log.Info("node started", "peer", n.p2p.Self(), "bootstrap", opts.Bootstrap)
	return n, nil
}

func (n *Node) startRPC() error {
	tok, err := loadOrCreateToken(filepath.Join(n.opts.DataDir, RPCTokenFile))
	if err != nil {
		return err
	}
	rcfg := rpc.DefaultConfig()
	rcfg.Addr = n.opts.Config.RPC
	rcfg.AllowRemote = n.opts.Config.RPCAllowRemote
	rcfg.Token = tok
	rcfg.Logger = n.opts.Logger
	if n.met != nil { // a nil *metrics.Metrics in the interface would not be nil
		rcfg.Metrics = n.met
	}
	if n.opts.RPC != nil {
		n.opts.RPC(&rcfg)
	}
	var chatAPI rpc.ChatAPI
	if n.chat != nil {
		chatAPI = n.chat
	}
	if n.rpc, err = rpc.New(n, chatAPI, rcfg); err != nil {
		return err
	}
	if err := n.rpc.Start(); err != nil {
		return fmt.Errorf("start rpc on %s: %w", rcfg.Addr, err)
	}
	// Written last, once we answer: clients take its presence to mean the
	// daemon is up.
	if err := writeFileAtomic(filepath.Join(n.opts.DataDir, RPCAddrFile), []byte(n.rpc.URL()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", RPCAddrFile, err)
	}
	n.log.Info("rpc listening", "url", n.rpc.URL())
	return nil
}

// Chat returns the chat service (nil on a bootstrap node).
func (n *Node) Chat() *chat.Service { return n.chat }

// P2P returns the libp2p side of the node.
func (n *Node) P2P() *p2p.Node { return n.p2p }

// RPCURL returns the RPC endpoint URL ("" without RPC).
func (n *Node) RPCURL() string {
	if n.rpc == nil {
		return ""
	}
	return n.rpc.URL()
}

// Close stops the node in reverse order of start: RPC, sync, chat (and
// its ledger), key bundles, p2p, datastore, lock. It waits at most ShutdownTimeout for the
// parts that could hang. Idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		if n.rpc != nil {
			os.Remove(filepath.Join(n.opts.DataDir, RPCAddrFile))
			errs = append(errs, n.rpc.Close())
		}
		if n.sync != nil {
			errs = append(errs, n.sync.Close())
		}
		if n.inbox != nil {
			n.inbox.close() // before chat, like the guards
		}
		for _, g := range n.e2ee {
			g.close() // before chat: pending admissions and joins end now
		}
		if n.chat != nil {
			errs = append(errs, n.chat.Close())
		}
		if n.bundles != nil {
			errs = append(errs, n.bundles.close())
		}
		if n.p2p != nil {
			errs = append(errs, n.p2p.Close())
		}
		if n.own && n.store != nil {
			errs = append(errs, n.store.Close())
		}
		errs = append(errs, n.lock.release())
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(ShutdownTimeout):
		return fmt.Errorf("node: shutdown timed out after %s", ShutdownTimeout)
	}
}
