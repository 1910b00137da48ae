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
	DiskBytes  int64  `json:"diskBytes,omitempty"`
	TableBytes int64  `json:"tableBytes,omitempty"`
	Err        string `json:"error,omitempty"`
}

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
		if n > 0 {
			t := time.Now()
			if err := prepareDataDir(ctx, dir, n); err != nil {
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

// prepareDataDir joins the room on a node on dir and stores n events.
func prepareDataDir(ctx context.Context, dir string, n int) error {
	nd, err := startNode(ctx, dir, nodeSetup{})
	if err != nil {
		return err
	}
	r, err := nd.Chat().Join(ctx, roomName)
	if err == nil {
		err = fillLedger(ctx, nd.Chat().Ledger(), r.ID, n)
	}
	return errors.Join(err, nd.Close())
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
