package p2p_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

var errRejected = errors.New("rejected by test validator")

const room = "/parley/room/test"

// chain starts three nodes connected A–B–C (A and C not directly), all in
// room, with the given reject prefixes for their validators. The DHT runs
// in client mode so that it does not introduce A and C to each other.
func chain(t *testing.T, rejectA, rejectB, rejectC string) (nodes [3]*p2p.Node, topics [3]p2p.Topic, boxes [3]*inbox) {
	t.Helper()
	for i := range nodes {
		nodes[i] = newNode(t, testConfigMode(p2p.DHTModeClient))
	}
	connect(t, nodes[0], nodes[1])
	connect(t, nodes[2], nodes[1])
	for i, reject := range []string{rejectA, rejectB, rejectC} {
		topics[i], boxes[i] = join(t, nodes[i], room, reject)
	}
	waitTopicPeers(t, topics[0], nodes[1].Self())
	waitTopicPeers(t, topics[1], nodes[0].Self(), nodes[2].Self())
	waitTopicPeers(t, topics[2], nodes[1].Self())
	warmUp(t, topics[0], boxes[2])
	warmUp(t, topics[2], boxes[0])
	return nodes, topics, boxes
}

func TestChainForwarding(t *testing.T) {
	nodes, topics, boxes := chain(t, "", "", "")
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, p := range a.Peers() {
		if p.ID == c.Self() {
			t.Fatal("A and C must not be directly connected")
		}
	}

	if err := topics[0].Publish(t.Context(), []byte("hello from A")); err != nil {
		t.Fatalf("Publish on A: %v", err)
	}
	if err := topics[2].Publish(t.Context(), []byte("hello from C")); err != nil {
		t.Fatalf("Publish on C: %v", err)
	}
	testwait.For(t, 15*time.Second, "delivery through B", func() bool {
		return boxes[2].count("hello from A") == 1 && boxes[0].count("hello from C") == 1
	})

	// Local publishes are validated (from = self), not delivered: the
	// publisher has them.
	if !boxes[0].sawValidate("hello from A") || boxes[0].count("hello from A") != 0 {
		t.Errorf("A validated its own message: %v, delivered it %d times; want validated, not delivered",
			boxes[0].sawValidate("hello from A"), boxes[0].count("hello from A"))
	}
	testwait.For(t, 5*time.Second, "delivery on B", func() bool {
		return boxes[1].count("hello from A") == 1 && boxes[1].count("hello from C") == 1
	})
	for _, d := range boxes[2].deliveries() {
		if d.data != "hello from A" {
			continue
		}
		if d.validated != "ok:hello from A" {
			t.Errorf("deliver got validated value %v, want the validator's result", d.validated)
		}
		if d.from != b.Self() {
			t.Errorf("C got A's message from %s, want the forwarder B %s", d.from, b.Self())
		}
	}
}

func TestRejectedMessageIsNotDeliveredOrForwarded(t *testing.T) {
	// A accepts everything, B rejects "bad", C would accept it.
	_, topics, boxes := chain(t, "", "bad", "")

	if err := topics[0].Publish(t.Context(), []byte("bad message")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := topics[0].Publish(t.Context(), []byte("good message")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	testwait.For(t, 15*time.Second, "good message on C", func() bool { return boxes[2].count("good message") == 1 })

	if !boxes[1].sawValidate("bad message") {
		t.Error("B never validated the bad message")
	}
	if boxes[1].count("bad message") != 0 {
		t.Error("B delivered a message its validator rejected")
	}
	if boxes[2].sawValidate("bad message") || boxes[2].count("bad message") != 0 {
		t.Error("B forwarded a message its validator rejected")
	}
}

func TestLocalRejectFailsPublish(t *testing.T) {
	n := newNode(t, testConfig())
	tp, box := join(t, n, room, "bad")
	err := tp.Publish(t.Context(), []byte("bad local"))
	var verr pubsub.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Publish of a rejected message: got %v, want a pubsub.ValidationError", err)
	}
	if box.count("bad local") != 0 {
		t.Error("rejected local message was delivered")
	}
}

// TestMessageIDIsEventID guards against every message getting the same
// (empty) ID under StrictNoSign, which would drop all but the first.
func TestMessageIDIsEventID(t *testing.T) {
	a, b := newNode(t, testConfig()), newNode(t, testConfig())
	connect(t, a, b)
	ta, boxA := join(t, a, room, "")
	tb, boxB := join(t, b, room, "")
	waitTopicPeers(t, ta, b.Self())
	waitTopicPeers(t, tb, a.Self())

	for _, m := range []string{"first", "second", "first", "third"} {
		if err := ta.Publish(t.Context(), []byte(m)); err != nil {
			t.Fatalf("Publish %q: %v", m, err)
		}
	}
	testwait.For(t, 10*time.Second, "all distinct payloads on B", func() bool {
		return boxB.count("first") >= 1 && boxB.count("second") == 1 && boxB.count("third") == 1
	})
	// The duplicate payload has the same ID: delivered once everywhere.
	if got := boxB.count("first"); got != 1 {
		t.Errorf("B delivered the duplicate payload %d times, want 1", got)
	}
	if got := boxA.count("first"); got != 0 {
		t.Errorf("A delivered its own payload %d times, want 0", got)
	}
}

func TestJoinTwiceAndRejoin(t *testing.T) {
	n := newNode(t, testConfig())
	tp, _ := join(t, n, room, "")
	box := &inbox{}
	if _, err := n.JoinTopic(room, box.validate, box.deliver); !errors.Is(err, p2p.ErrTopicJoined) {
		t.Fatalf("second JoinTopic: got %v, want ErrTopicJoined", err)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("Topic.Close: %v", err)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("second Topic.Close: %v", err)
	}
	tp2, box2 := join(t, n, room, "")
	if err := tp2.Publish(t.Context(), []byte("after rejoin")); err != nil {
		t.Fatalf("Publish after rejoin: %v", err)
	}
	if !box2.sawValidate("after rejoin") {
		t.Error("the rejoined topic's validator did not see a local publish")
	}
	if box.sawValidate("after rejoin") || box.count("after rejoin") != 0 {
		t.Error("closed topic still validates or delivers")
	}
}

// deliver runs on pubsub's validation worker, right after the validator:
// Close waits for a call that is running, and none starts afterwards.
func TestCloseWaitsForDeliver(t *testing.T) {
	a := newNode(t, testConfigMode(p2p.DHTModeClient))
	b := newNode(t, testConfigMode(p2p.DHTModeClient))
	connect(t, a, b)
	box := &inbox{}
	entered, release := make(chan struct{}), make(chan struct{})
	ta, err := a.JoinTopic(room, box.validate, func(from peer.ID, data []byte, v any) {
		if strings.HasPrefix(string(data), "block") {
			close(entered)
			<-release
		}
		box.deliver(from, data, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	tb, _ := join(t, b, room, "")
	waitTopicPeers(t, tb, a.Self())
	warmUp(t, tb, box)

	if err := tb.Publish(t.Context(), []byte("block here")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the message never reached deliver")
	}
	closed := make(chan error, 1)
	go func() { closed <- ta.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while deliver was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return once deliver did")
	}
	if box.count("block here") != 1 {
		t.Fatal("the running deliver did not finish")
	}
	n := len(box.deliveries())
	if err := tb.Publish(t.Context(), []byte("after close")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := len(box.deliveries()); got != n {
		t.Fatalf("%d deliveries after Close returned", got-n)
	}
}

// A deliver that panics is our bug, not the sender's: the node keeps
// running and the message, accepted by the validator, is still forwarded.
func TestDeliverPanicStillForwards(t *testing.T) {
	nodes, topics, boxes := chain(t, "", "", "")
	if err := topics[1].Close(); err != nil {
		t.Fatal(err)
	}
	// B rejoins with a deliver that panics on one message.
	tb, err := nodes[1].JoinTopic(room, boxes[1].validate, func(peer.ID, []byte, any) { panic("deliver bug") })
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	waitTopicPeers(t, topics[0], nodes[1].Self())
	waitTopicPeers(t, topics[2], nodes[1].Self())
	warmUp(t, topics[0], boxes[2])
	if err := topics[0].Publish(t.Context(), []byte("through a panicking B")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 15*time.Second, "C to get A's message through B", func() bool {
		return boxes[2].count("through a panicking B") == 1
	})
}
