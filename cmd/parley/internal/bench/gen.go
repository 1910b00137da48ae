package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/ledger"
)

// fillLedger writes n signed msg events into room of led, fast: events are
// signed in parallel in independent chains (one author each, every event
// the child of the previous one of its chain) and added in large batches,
// so that they share fsyncs. It is the quickest honest way to a big ledger:
// every event is a real, verifiable event. It returns the ID of an event
// in the middle of the room's history (by Lamport clock).
func fillLedger(ctx context.Context, led *ledger.Ledger, room string, n int) (mid ledger.ID, err error) {
	chains := max(2*runtime.GOMAXPROCS(0), 1)
	per := make([][]*ledger.Event, chains)
	errs := make([]error, chains)
	var wg sync.WaitGroup
	now := time.Now()
	for c := range chains {
		count := n / chains
		if c < n%chains {
			count++
		}
		wg.Go(func() {
			key, _, err := crypto.GenerateEd25519Key(rand.Reader)
			if err != nil {
				errs[c] = err
				return
			}
			evs := make([]*ledger.Event, 0, count)
			var parents []ledger.ID
			for i := range count {
				body := fmt.Appendf(nil, `{"text":"backlog %d/%06d: a typical chat message of some sixty bytes"}`, c, i)
				ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: body,
					Time: now, Lamport: uint64(i + 1), Parents: parents})
				if err != nil {
					errs[c] = err
					return
				}
				evs = append(evs, ev)
				parents = []ledger.ID{ev.ID()}
			}
			per[c] = evs
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", fmt.Errorf("sign backlog: %w", err)
		}
	}
	if len(per[0]) > 0 {
		mid = per[0][len(per[0])/2].ID()
	}
	const batch = 2000
	for _, evs := range per {
		for len(evs) > 0 {
			k := min(batch, len(evs))
			_, rej, err := led.Add(ctx, room, evs[:k]...)
			if err != nil {
				return "", fmt.Errorf("store backlog: %w", err)
			}
			if len(rej) > 0 {
				return "", fmt.Errorf("store backlog: %d rejected: %v", len(rej), rej[0].Err)
			}
			evs = evs[k:]
		}
	}
	return mid, nil
}
