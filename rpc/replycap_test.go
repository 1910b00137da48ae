package rpc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

// msg_history above one page reads backwards page by page and returns the
// same list as one read would: the newest limit before before, oldest
// first, stopping at the start of the room.
func TestHistoryPagesAreOneList(t *testing.T) {
	ts := startServer(t, nil)
	for _, tt := range []struct {
		query       string
		first, last int
	}{
		{`{"limit":1000}`, bigRoomLen - 999, bigRoomLen},
		{`{"limit":250,"before":"b1000"}`, 750, 999},
		{`{"limit":300,"before":"b120"}`, 1, 119},
		{`{"limit":5000}`, bigRoomLen - 999, bigRoomLen}, // capped at 1000, like chat
	} {
		r := ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"msg_history","params":["big",`+tt.query+`]}`)
		if r.Error != nil {
			t.Fatalf("%s: %+v", tt.query, r.Error)
		}
		var msgs []api.Message
		if err := json.Unmarshal(r.Result, &msgs); err != nil {
			t.Fatal(err)
		}
		if len(msgs) != tt.last-tt.first+1 {
			t.Fatalf("%s: %d messages, want %d", tt.query, len(msgs), tt.last-tt.first+1)
		}
		for i, m := range msgs {
			if want := fmt.Sprintf("b%d", tt.first+i); m.ID != want {
				t.Fatalf("%s: message %d is %s, want %s", tt.query, i, m.ID, want)
			}
		}
	}
}

// A call whose result would exceed MaxReplyBytes gets -32014 with the cap
// in data, not a truncated result; smaller calls are unaffected.
func TestReplyCapPerCall(t *testing.T) {
	const capBytes = 64 << 10
	ts := startServer(t, func(c *rpc.Config) { c.MaxReplyBytes = capBytes })
	r := ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"msg_history","params":["big",{"limit":1000}]}`)
	if r.Error == nil || r.Error.Code != api.CodeReplyTooLarge {
		t.Fatalf("limit 1000 under a 64 KiB cap: %+v", r.Error)
	}
	var data api.ReplyTooLargeData
	if err := json.Unmarshal(r.Error.Data, &data); err != nil || data.MaxBytes != capBytes {
		t.Fatalf("data %s: %v", r.Error.Data, err)
	}
	r = ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"msg_history","params":["big",{"limit":50}]}`)
	if r.Error != nil || len(r.Result) > capBytes {
		t.Fatalf("limit 50: %+v, %d bytes", r.Error, len(r.Result))
	}
}

// heapPeak samples the heap until stop is closed and returns the highest
// live heap (as marked by each GC cycle, what runtime.GC() would measure)
// and the highest total of heap objects (garbage not yet swept included).
func heapPeak(stop <-chan struct{}) <-chan [2]uint64 {
	out := make(chan [2]uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
		var peak [2]uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak[0] = max(peak[0], s[0].Value.Uint64())
			peak[1] = max(peak[1], s[1].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// postCounting posts body and reads the reply without keeping it: it
// returns its size and how often each of two strings occurs in it.
func (ts *testServer) postCounting(t *testing.T, body, a, b string) (n, na, nb int, err error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.url, strings.NewReader(body))
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	buf := make([]byte, 32<<10)
	var tail []byte // the end of the previous chunk, for matches across chunks
	for {
		k, rerr := resp.Body.Read(buf)
		chunk := append(tail, buf[:k]...)
		na += bytes.Count(chunk, []byte(a))
		nb += bytes.Count(chunk, []byte(b))
		keep := min(len(chunk), max(len(a), len(b))-1)
		na -= bytes.Count(chunk[len(chunk)-keep:], []byte(a)) // counted again with the next chunk
		nb -= bytes.Count(chunk[len(chunk)-keep:], []byte(b))
		tail = append(tail[:0:0], chunk[len(chunk)-keep:]...)
		n += k
		if rerr == io.EOF {
			na += bytes.Count(tail, []byte(a))
			nb += bytes.Count(tail, []byte(b))
			return n, na, nb, nil
		}
		if rerr != nil {
			return n, na, nb, rerr
		}
	}
}

// The attack: a token holder sends 8 batches at once, each of 100
// msg_history calls with limit 1000 (~570 KB of result each, 57 MB per
// batch uncapped). Every batch reply stays within the batch cap, the calls
// that did not fit get -32014, and the heap stays under a ceiling; calls
// within the caps are unaffected.
func TestReplyCapBatchAttack(t *testing.T) {
	ts := startServer(t, nil)
	one := `{"jsonrpc":"2.0","id":%d,"method":"msg_history","params":["big",{"limit":1000}]}`
	batch := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(one, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	// Within the caps: one full page, and a batch of 5 (~2.9 MB).
	if r := ts.call(t, fmt.Sprintf(one, 1)); r.Error != nil {
		t.Fatalf("single limit 1000: %+v", r.Error)
	}
	code, body := ts.post(t, batch(5), nil)
	if code != 200 || strings.Contains(body, `"error"`) {
		t.Fatalf("batch of 5: status %d, error in reply", code)
	}
	t.Logf("batch of 5 × limit 1000: %d-byte reply, no error", len(body))

	const attackers = 8
	req := batch(100)
	before := liveHeap()
	stop := make(chan struct{})
	peakc := heapPeak(stop)
	var wg sync.WaitGroup
	sizes := make([]int, attackers)
	refused := make([]int, attackers)
	for i := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Count, don't keep: the heap measured is the server's.
			n, refusals, errs, err := ts.postCounting(t, req, `"error":{"code":-32014,`, `"error":`)
			if err != nil {
				t.Errorf("attacker %d: %v", i, err)
				return
			}
			if errs != refusals {
				t.Errorf("attacker %d: %d errors, of which %d -32014", i, errs, refusals)
			}
			sizes[i], refused[i] = n, refusals
		}()
	}
	wg.Wait()
	close(stop)
	peak := <-peakc
	after := liveHeap()
	const replyCeiling = rpc.DefaultMaxBatchReplyBytes + 64<<10 // results plus envelopes and errors
	for i := range attackers {
		if sizes[i] > replyCeiling {
			t.Errorf("attacker %d: %d-byte reply, over %d", i, sizes[i], replyCeiling)
		}
		if refused[i] == 0 {
			t.Errorf("attacker %d: nothing refused", i)
		}
	}
	// Each batch holds its results (≤ 8 MiB) and their encoding (≤ 8 MiB)
	// until the reply is written, plus a page per call in flight.
	const liveCeiling = attackers*2*rpc.DefaultMaxBatchReplyBytes + 32<<20
	t.Logf("request %d bytes; replies %v bytes, refused %v of 100; live heap peak %d MiB (ceiling %d), heap objects peak %d MiB; live %d → %d MiB after GC",
		len(req), sizes, refused, peak[0]>>20, liveCeiling>>20, peak[1]>>20, before>>20, after>>20)
	if peak[0] > liveCeiling {
		t.Errorf("live heap peaked at %d MiB, over the %d MiB ceiling", peak[0]>>20, liveCeiling>>20)
	}
	if after > before+16<<20 {
		t.Errorf("live heap grew from %d to %d MiB", before>>20, after>>20)
	}
}
