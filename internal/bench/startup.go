package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/client"
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
	Err         string `json:"error,omitempty"`
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
		if n > 0 {
			t := time.Now()
			if err := prepareDataDir(ctx, dir, n); err != nil {
				return out, fmt.Errorf("prepare %d events: %w", n, err)
			}
			progress("startup: wrote %d events in %s", n, time.Since(t).Round(time.Millisecond))
		}
		r := StartupResult{Events: n}
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

// prepareDataDir joins the room on a node on dir and stores n events.
func prepareDataDir(ctx context.Context, dir string, n int) error {
	nd, err := startNode(ctx, dir, false, false)
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
	addrFile := filepath.Join(dir, node.RPCAddrFile)
	os.Remove(addrFile)
	cmd := exec.Command(bin, "--data", dir, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--rpc", "127.0.0.1:0", "--no-mdns", "--no-nat-portmap", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = nil, nil
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	deadline := start.Add(30 * time.Second)
	var cl *client.Client
	for {
		if time.Now().After(deadline) {
			return 0, 0, 0, errors.New("daemon did not answer within 30 s")
		}
		select {
		case err := <-exited:
			exited <- err
			return 0, 0, 0, fmt.Errorf("daemon exited: %v", err)
		default:
		}
		if cl == nil {
			if url, tok, err := client.ReadEndpoint(dir); err == nil {
				cl = client.Dial(url, tok)
			}
		}
		if cl != nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			var info rpc.NodeInfo
			err := cl.Call(cctx, "node_info", nil, &info)
			cancel()
			if err == nil {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	d := time.Since(start)
	var rss, anon uint64
	if measureRSS {
		time.Sleep(time.Second)
		pid := strconv.Itoa(cmd.Process.Pid)
		rss, anon = procRSS(pid), procRSSAnon(pid)
	}
	return d, rss, anon, nil
}
