package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
)

// StartupResult is the start of a real `parley daemon` process on one data
// dir: time from exec to the first answered node_info call.
type StartupResult struct {
	Events int   `json:"events"` // events in the data dir
	Runs   []Dur `json:"runs"`
	Median Dur   `json:"median"`
	// IdleRSS is the daemon's VmRSS one second after its first answer,
	// IdleRSSAnon the part of it that is the daemon's own (RssAnon; the
	// rest is resident pages of the executable, shared with the page
	// cache).
	IdleRSS     uint64 `json:"idleRssBytes"`
	IdleRSSAnon uint64 `json:"idleRssAnonBytes"`
	// DiskBytes is the sum of the sizes of the data dir's files once the node that wrote the events has closed, before any
	// daemon starts on it; 0 for the empty dir, which has no store yet.
	// TableBytes is the part in Pebble's tables (*.sst): the events and
	// their indexes, compacted. Most of the rest is write-ahead log, which
	// Pebble replays at start and keeps a few files of for reuse.
	DiskBytes  int64 `json:"diskBytes,omitempty"`
	TableBytes int64 `json:"tableBytes,omitempty"`
	// History is msg_history on the data dir (none for the empty one).
	History *HistoryResult `json:"history,omitempty"`
	Err     string         `json:"error,omitempty"`
}

// HistoryResult is msg_history on a fresh daemon over a data dir holding
// events: what an app waits for when it opens a room with a long history
// and scrolls back. Pages hold historyPage messages.
type HistoryResult struct {
	Newest  Dur `json:"newest"`  // the newest page, the daemon's first read of the room (cold caches)
	Pages   int `json:"pages"`   // pages then read walking back from it, each before the oldest of the last
	BackP50 Dur `json:"backP50"` // their median
	BackMax Dur `json:"backMax"`
	// Middle is the first read of the page before an event in the middle
	// of the history (by Lamport clock): a jump far back, cold; MiddleWarm
	// the median of the same read repeated.
	Middle     Dur    `json:"middle"`
	MiddleWarm Dur    `json:"middleWarm"`
	Err        string `json:"error,omitempty"`
}

// historyPage and historyPages: pages of 50 messages, as an app loads
// them, and 20 of them walking back (1,000 messages).
const (
	historyPage  = 50
	historyPages = 20
)

// startup times daemon starts on an empty data dir and on one holding
// events events.
func startup(ctx context.Context, cfg Config, progress func(string, ...any)) ([]StartupResult, error) {
	base, err := os.MkdirTemp("", "parley-bench-start-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(base)
	sizes := []int{0}
	if cfg.StartupEvents > 0 {
		sizes = append(sizes, cfg.StartupEvents)
	}
	var out []StartupResult
	for _, n := range sizes {
		dir := filepath.Join(base, fmt.Sprintf("events-%d", n))
		if _, err := node.Init(dir); err != nil {
			return out, err
		}
		r := StartupResult{Events: n}
		var room, mid string
		if n > 0 {
			t := time.Now()
			if room, mid, err = prepareDataDir(ctx, dir, n); err != nil {
				return out, fmt.Errorf("prepare %d events: %w", n, err)
			}
			if r.DiskBytes, r.TableBytes, err = dirBytes(dir); err != nil {
				r.Err = fmt.Sprintf("size of the data dir: %v", err) // the starts are still timed
			}
			progress("startup: wrote %d events in %s (%d bytes on disk)", n, time.Since(t).Round(time.Millisecond), r.DiskBytes)
		}
		for k := range cfg.StartupRuns {
			d, rss, anon, err := startOnce(ctx, cfg.Binary, dir, k == 0)
			if err != nil {
				r.Err = err.Error()
				break
			}
			r.Runs = append(r.Runs, Dur(d))
			if rss > 0 {
				r.IdleRSS, r.IdleRSSAnon = rss, anon
			}
		}
		if len(r.Runs) > 0 {
			s := slices.Clone(r.Runs)
			slices.Sort(s)
			r.Median = s[len(s)/2]
		}
		progress("startup with %d events: median %s", n, time.Duration(r.Median).Round(time.Microsecond))
		if n >= historyPage && len(r.Runs) == cfg.StartupRuns { // a full page, and the daemon starts on this dir
			h, err := history(ctx, cfg.Binary, dir, room, mid, n)
			if err != nil {
				h.Err = err.Error()
			}
			r.History = &h
			progress("history of %d events: newest page %s, page from the middle %s", n,
				time.Duration(h.Newest).Round(time.Microsecond), time.Duration(h.Middle).Round(time.Microsecond))
		}
		out = append(out, r)
	}
	return out, nil
}

// dirBytes is the sum of the sizes of the regular files under dir, and of
// those that are Pebble tables (*.sst).
func dirBytes(dir string) (all, tables int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		all += info.Size()
		if filepath.Ext(path) == ".sst" {
			tables += info.Size()
		}
		return nil
	})
	return all, tables, err
}

// prepareDataDir joins the room on a node on dir and stores n events. It
// returns the room's ID and the ID of an event in the middle of its
// history.
func prepareDataDir(ctx context.Context, dir string, n int) (room, mid string, err error) {
	nd, err := startNode(ctx, dir, nodeSetup{})
	if err != nil {
		return "", "", err
	}
	r, err := nd.Chat().Join(ctx, roomName)
	var id ledger.ID
	if err == nil {
		id, err = fillLedger(ctx, nd.Chat().Ledger(), r.ID, n)
	}
	return r.ID, id.String(), errors.Join(err, nd.Close())
}

// history starts a daemon on dir and times msg_history pages of room: the
// newest, historyPages more walking back, and the page before mid, once
// and then 5 times more. A room of n events gives as many pages as it
// fills (the middle page needs 2 below mid); every page must be full.
func history(ctx context.Context, bin, dir, room, mid string, n int) (HistoryResult, error) {
	var h HistoryResult
	d, err := startDaemon(ctx, bin, dir)
	if err != nil {
		return h, err
	}
	defer d.stop()
	page := func(before string) (oldest string, took time.Duration, err error) {
		q := map[string]any{"limit": historyPage}
		if before != "" {
			q["before"] = before
		}
		var msgs []struct {
			ID string `json:"id"`
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a hung daemon must not hang the bench
		defer cancel()
		t := time.Now()
		if err := d.cl.Call(cctx, "msg_history", []any{room, q}, &msgs); err != nil {
			return "", 0, fmt.Errorf("msg_history: %w", err)
		}
		took = time.Since(t)
		if len(msgs) != historyPage {
			return "", 0, fmt.Errorf("msg_history before %q: %d messages, want %d", before, len(msgs), historyPage)
		}
		return msgs[0].ID, took, nil // oldest first
	}
	oldest, took, err := page("")
	if err != nil {
		return h, err
	}
	h.Newest = Dur(took)
	pages := min(historyPages, n/historyPage-1)
	back := make([]time.Duration, 0, max(pages, 0))
	for range pages {
		if oldest, took, err = page(oldest); err != nil {
			return h, err
		}
		back = append(back, took)
	}
	h.Pages = len(back)
	if len(back) > 0 {
		slices.Sort(back)
		h.BackP50, h.BackMax = Dur(back[len(back)/2]), Dur(back[len(back)-1])
	}
	if n < 4*historyPage {
		return h, nil // too few events below the middle for a full page
	}
	if _, took, err = page(mid); err != nil {
		return h, err
	}
	h.Middle = Dur(took)
	warm := make([]time.Duration, 5)
	for i := range warm {
		if _, warm[i], err = page(mid); err != nil {
			return h, err
		}
	}
	slices.Sort(warm)
	h.MiddleWarm = Dur(warm[len(warm)/2])
	return h, nil
}

// startOnce starts the daemon on dir and returns the time to its first
// answered node_info call; with measureRSS it also waits a second and
// reads the daemon's RSS. The daemon is stopped (SIGTERM, then SIGKILL)
// before it returns.
func startOnce(ctx context.Context, bin, dir string, measureRSS bool) (time.Duration, uint64, uint64, error) {
	start := time.Now()
	d, err := startDaemon(ctx, bin, dir)
	if err != nil {
		return 0, 0, 0, err
	}
	defer d.stop()
	took := time.Since(start)
	var rss, anon uint64
	if measureRSS {
		time.Sleep(time.Second)
		pid := strconv.Itoa(d.cmd.Process.Pid)
		rss, anon = procRSS(pid), procRSSAnon(pid)
	}
	return took, rss, anon, nil
}
