package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// startBootstrapNode runs `parley bootstrap` on loopback and waits until it
// has written rpc.addr.
func startBootstrapNode(t *testing.T) *daemon {
	t.Helper()
	return startProcess(t, "bootstrap", "")
}

type idInfo struct {
	PeerID string   `json:"peerId"`
	Addrs  []string `json:"addrs"`
}

func parleyID(t *testing.T, dir string) idInfo {
	t.Helper()
	var info idInfo
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", dir, "id", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// connectedTo reports whether `parley peers --json` on dir lists id.
func connectedTo(t *testing.T, dir, id string) bool {
	t.Helper()
	var peers []struct {
		PeerID string `json:"peerId"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", dir, "--json", "peers")), &peers); err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(peers, func(p struct {
		PeerID string `json:"peerId"`
	}) bool {
		return p.PeerID == id
	})
}

// nodeRunsSync reports whether node wires the ledger sync protocol, by
// starting an in-process node (no RPC, loopback) and looking at its host.
func nodeRunsSync(t *testing.T) bool {
	t.Helper()
	off := false
	n, err := node.New(t.Context(), node.Options{DataDir: t.TempDir(), NoRPC: true, Config: node.Config{
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, MDNS: &off, NATPortMap: &off, LogLevel: "warn",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	return slices.Contains(n.P2P().Host().Mux().Protocols(), protocol.ID(ledgersync.ProtocolID))
}

// `parley bootstrap` and two `parley daemon --peer <bootstrap>`: the two
// daemons find each other through the bootstrap node's DHT once they join
// the same room, with no other help, and chat.
func TestBinaryBootstrapDiscovery(t *testing.T) {
	boot := startBootstrapNode(t)
	bootInfo := parleyID(t, boot.dir)
	if len(bootInfo.Addrs) == 0 || !strings.HasSuffix(bootInfo.Addrs[0], "/p2p/"+bootInfo.PeerID) {
		t.Fatalf("parley id of the bootstrap node: %+v", bootInfo)
	}
	a := startDaemon(t, "", "--name", "alice", "--peer", bootInfo.Addrs[0])
	b := startDaemon(t, "", "--name", "bob", "--peer", bootInfo.Addrs[0])
	idA, idB := parleyID(t, a.dir).PeerID, parleyID(t, b.dir).PeerID
	if connectedTo(t, a.dir, idB) {
		t.Fatal("A and B are connected before joining a room")
	}
	mustCLI(t, "--data", a.dir, "join", "general")
	mustCLI(t, "--data", b.dir, "join", "general")

	testwait.ForEvery(t, 200*time.Millisecond, 30*time.Second, "A and B to find each other through the bootstrap node", func() bool {
		return connectedTo(t, a.dir, idB) && connectedTo(t, b.dir, idA)
	}, func() string { return fmt.Sprintf("A:\n%s\nB:\n%s", a.out, b.out) })

	// Both joined before they met, so each lacks the other's join event;
	// their messages are accepted once ledger sync fetches it.
	if !nodeRunsSync(t) {
		t.Fatalf("the daemon does not serve %s; chat after a late meeting depends on it", ledgersync.ProtocolID)
	}
	mustCLI(t, "--data", a.dir, "send", "general", "hi bob, via the bootstrap node")
	mustCLI(t, "--data", b.dir, "send", "general", "hi alice")
	var ha, hb string
	testwait.ForEvery(t, 200*time.Millisecond, 30*time.Second, "the messages to cross", func() bool {
		ha = mustCLI(t, "--data", a.dir, "history", "general")
		hb = mustCLI(t, "--data", b.dir, "history", "general")
		return strings.Contains(hb, "hi bob, via the bootstrap node") && strings.Contains(ha, "hi alice")
	}, func() string { return fmt.Sprintf("A's history:\n%s\nB's history:\n%s", ha, hb) })
}
