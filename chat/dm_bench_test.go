package chat

import (
	"context"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// BenchmarkDMHistory reads the newest 50 messages of a direct
// conversation of 400 messages, in one room, and merged from two crossed
// rooms; and a page of 50 before a message in the middle (the merge
// finds the cursor's key in the other room's order index).
func BenchmarkDMHistory(b *testing.B) {
	ctx := context.Background()
	for _, crossed := range []bool{false, true} {
		var a, p *privPeer
		var rooms []string
		if crossed {
			a, p, rooms, _, _ = crossedPair(b)
		} else {
			dir := newKeyDir()
			peers := map[peer.ID]*Service{}
			a, p = newPrivPeer(b, dir, "a"), newPrivPeer(b, dir, "b")
			a.openDM(b, peers, Config{})
			p.openDM(b, peers, Config{})
			m, err := a.s.DMSend(ctx, p.id.String(), "first")
			if err != nil {
				b.Fatal(err)
			}
			rooms = []string{m.Room}
		}
		exchange(b, []*privPeer{a, p}, rooms...)
		for i := range 400 {
			r := rooms[i%len(rooms)]
			sender := a
			if i%2 == 1 {
				sender = p
			}
			// Straight into each room, as before the two sides saw the
			// merge (Send would pick the canonical one).
			mr := sender.s.modRoom(r)
			if _, err := sender.s.sendPrivate(ctx, mr, r, innerMsg, msgBodyOf(fmt.Sprintf("m%d", i))); err != nil {
				b.Fatal(err)
			}
		}
		exchange(b, []*privPeer{a, p}, rooms...)
		all, err := a.s.DMHistory(ctx, p.id.String(), HistoryQuery{Limit: 1000})
		if err != nil || len(all) < 400 {
			b.Fatalf("%d messages, %v", len(all), err)
		}
		mid := all[len(all)/2].ID
		for _, q := range []struct {
			name string
			q    HistoryQuery
		}{{"newest", HistoryQuery{Limit: 50}}, {"before", HistoryQuery{Limit: 50, Before: mid}}} {
			b.Run(fmt.Sprintf("crossed=%v/%s", crossed, q.name), func(b *testing.B) {
				for b.Loop() {
					ms, err := a.s.DMHistory(ctx, p.id.String(), q.q)
					if err != nil || len(ms) != 50 {
						b.Fatalf("%d messages, %v", len(ms), err)
					}
				}
			})
		}
	}
}
