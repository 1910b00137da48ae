package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/rpc/api"
)

// A real daemon killed with SIGKILL at a random moment while clients
// flood msg_send into a private room, several times on one data dir: no
// chain index is ever used twice in the room's ledger, and every
// acknowledged message is still shown decrypted after the restarts.
func TestKill9PrivateNeverRepeatsIndex(t *testing.T) {
	kills := 6
	if testing.Short() {
		kills = 2
	}
	dir := t.TempDir()
	acked := map[string]string{} // ID → text
	var room string
	for round := range kills {
		d := startDaemon(t, dir)
		c := dialDir(t, dir)
		ctx := t.Context()
		if round == 0 {
			var r api.Room
			if err := c.Call(ctx, "room_create", []any{map[string]any{"name": "vault", "private": true}}, &r); err != nil {
				t.Fatal(err)
			}
			room = r.ID
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		floodCtx, stop := context.WithCancel(ctx)
		for w := range 3 {
			wg.Go(func() {
				for i := 0; floodCtx.Err() == nil; i++ {
					text := "r" + itoa(round) + "w" + itoa(w) + "#" + itoa(i)
					var m api.Message
					if err := c.Call(floodCtx, "msg_send", []any{room, text}, &m); err != nil {
						return
					}
					mu.Lock()
					acked[m.ID] = text
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(100+rand.IntN(300)) * time.Millisecond)
		d.cmd.Process.Kill()
		d.cmd.Wait()
		stop()
		wg.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged: the test proved nothing")
	}
	d := startDaemon(t, dir)
	c := dialDir(t, dir)
	shown := map[string]string{}
	for before := ""; ; {
		q := map[string]any{"limit": 1000}
		if before != "" {
			q["before"] = before
		}
		var page []api.Message
		if err := c.Call(t.Context(), "msg_history", []any{room, q}, &page); err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			shown[m.ID] = m.Text
		}
		if len(page) < 1000 {
			break
		}
		before = page[0].ID
	}
	for id, text := range acked {
		if shown[id] != text {
			t.Fatalf("acknowledged %s (%q) shows %q after the kills", id, text, shown[id])
		}
	}
	d.stop(t)

	// Read the room's ciphertexts straight from the datastore.
	pds, err := store.OpenPebble(filepath.Join(dir, "datastore"))
	if err != nil {
		t.Fatal(err)
	}
	defer pds.Close()
	led, err := ledger.Open(t.Context(), namespace.Wrap(pds, ds.NewKey("/ledger")), ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	var evs []*ledger.Event
	for before := ledger.ID(""); ; {
		page, err := led.History(t.Context(), room, before, 1000)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, page...)
		if len(page) < 1000 {
			break
		}
		before = page[0].ID()
	}
	type slot struct {
		epoch string
		index uint64
	}
	seen := map[slot]string{}
	n := 0
	for _, ev := range evs {
		if ev.Kind != chat.KindEnc {
			continue
		}
		ct, err := e2ee.ParseCiphertext(ev.Body)
		if err != nil {
			t.Fatal(err)
		}
		k := slot{string(ct.Epoch), ct.Index}
		if prev, ok := seen[k]; ok {
			t.Fatalf("chain index %d of one epoch used by %s and %s", ct.Index, prev, ev.IDText())
		}
		seen[k] = ev.IDText()
		n++
	}
	t.Logf("%d kills, %d acknowledged, %d ciphertexts, no index twice", kills, len(acked), n)
}
