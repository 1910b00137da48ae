package p2p

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBlockListBounded: blocks expire, a later block extends but never
// shortens one, and however many peers are blocked the list holds at most
// maxBlocked, forgetting the block that ends first.
func TestBlockListBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBlockList(nil)
		p := peer.ID("victim")
		b.block(p, time.Minute)
		b.block(p, time.Second) // does not shorten
		if !b.blocked(p) || b.score(p) != blockScore {
			t.Fatal("not blocked")
		}
		if s := b.score(p) + 50; s >= peerScoreThresholds().GraylistThreshold {
			t.Fatalf("a blocked peer's best score %v is not below the graylist", s)
		}
		time.Sleep(time.Minute - time.Millisecond)
		if b.InterceptPeerDial(p) {
			t.Fatal("dial allowed before the block ended")
		}
		time.Sleep(time.Millisecond)
		if b.blocked(p) || b.score(p) != 0 || !b.InterceptPeerDial(p) || !b.InterceptSecured(0, p, nil) {
			t.Fatal("still blocked after the block ended")
		}

		// An attacker with many identities: the first blocked ends first.
		for i := range 3 * maxBlocked {
			b.block(peer.ID(fmt.Sprint("sybil", i)), time.Hour+time.Duration(i)*time.Millisecond)
		}
		if n := b.len(); n != maxBlocked {
			t.Fatalf("%d blocks held, bound %d", n, maxBlocked)
		}
		if b.blocked("sybil0") || !b.blocked(peer.ID(fmt.Sprint("sybil", 3*maxBlocked-1))) {
			t.Fatal("kept an older block over the newest")
		}
	})
}

// len is the number of blocks held (expired ones included until looked at).
func (b *blockList) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.until)
}
