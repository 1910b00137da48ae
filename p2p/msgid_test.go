package p2p

import (
	"testing"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/parley-chat/parley/ledger"
)

// A room topic's message ID is the bare event ID, so the same event from
// any peer is one message; on an epoch topic it names the topic too, so
// a member can publish one event on each epoch topic it is on without
// pubsub's global seen cache dropping the second copy.
func TestMessageIDPerTopicKind(t *testing.T) {
	data := []byte("some event bytes")
	id := string(ledger.ComputeID(data))
	room, p1, p2 := "/parley/room/pabc", "/parley/p/aaaa", "/parley/p/bbbb"
	if got := messageID(&pb.Message{Data: data, Topic: &room}); got != id {
		t.Fatalf("room topic ID %q, want the event ID", got)
	}
	a, b := messageID(&pb.Message{Data: data, Topic: &p1}), messageID(&pb.Message{Data: data, Topic: &p2})
	if a == b || a == id || b == id {
		t.Fatalf("epoch topics' IDs %q, %q must differ from each other and from the event ID", a, b)
	}
	if again := messageID(&pb.Message{Data: data, Topic: &p1}); again != a {
		t.Fatal("message ID is not a function of topic and data")
	}
}
