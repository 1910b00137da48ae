package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// P5 under crashes: a real daemon is killed with SIGKILL at a random moment
// while clients flood msg_send, 20 times on the same data dir. After every
// restart each acknowledged message is in the history and the ledger
// verifies; the daemon starts with no manual repair.
func TestKill9NeverLosesAcknowledged(t *testing.T) {
	kills := 20
	if testing.Short() {
		kills = 3
	}
	dir := t.TempDir()
	acked := make(map[string]bool)
	total := 0
	for round := range kills {
		d := startDaemon(t, dir)
		c := dialDir(t, dir)
		ctx := t.Context()
		if round == 0 {
			if err := c.Call(ctx, "room_join", []any{"crash"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		checkAcked(t, c, acked, round)

		var mu sync.Mutex
		var wg sync.WaitGroup
		floodCtx, stop := context.WithCancel(ctx)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; floodCtx.Err() == nil; i++ {
					var m api.Message
					err := c.Call(floodCtx, "msg_send", []any{"crash", "r" + itoa(round) + "w" + itoa(w) + "#" + itoa(i)}, &m)
					if err != nil {
						return // the daemon died under us: unacknowledged, may or may not be stored
					}
					mu.Lock()
					acked[m.ID] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(50+rand.IntN(350)) * time.Millisecond)
		d.cmd.Process.Kill() // SIGKILL: no shutdown code runs
		d.cmd.Wait()
		stop()
		wg.Wait()
		total = len(acked)
	}
	// A last start checks the final round too.
	startDaemon(t, dir)
	checkAcked(t, dialDir(t, dir), acked, kills)
	if total == 0 {
		t.Fatal("no message was acknowledged: the test proved nothing")
	}
	t.Logf("%d kills, %d acknowledged messages, 0 lost", kills, total)
}

func dialDir(t *testing.T, dir string) *client.Client {
	t.Helper()
	url, tok, err := client.ReadEndpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	return client.Dial(url, tok)
}

// checkAcked pages through the whole room and checks every acknowledged ID
// is there, then verifies the ledger.
func checkAcked(t *testing.T, c *client.Client, acked map[string]bool, round int) {
	t.Helper()
	ctx := t.Context()
	have := make(map[string]bool)
	before := ""
	for {
		q := map[string]any{"limit": 1000}
		if before != "" {
			q["before"] = before
		}
		var page []api.Message
		if err := c.Call(ctx, "msg_history", []any{"crash", q}, &page); err != nil {
			var rerr *api.Error
			if round == 0 && errors.As(err, &rerr) {
				break
			}
			t.Fatalf("round %d: history: %v", round, err)
		}
		for _, m := range page {
			have[m.ID] = true
		}
		if len(page) < 1000 {
			break
		}
		before = page[0].ID
	}
	lost := 0
	for id := range acked {
		if !have[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("after kill %d: %d of %d acknowledged messages lost", round, lost, len(acked))
	}
	var rep api.VerifyReport
	if err := c.Call(ctx, "ledger_verify", []any{}, &rep); err != nil || !rep.OK {
		t.Fatalf("after kill %d: verify %+v %v", round, rep, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
