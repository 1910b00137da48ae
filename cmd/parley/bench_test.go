package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/cmd/parley/internal/bench"
)

func TestBenchOnlyParts(t *testing.T) {
	cfg := bench.DefaultConfig()
	if err := onlyParts(&cfg, []string{"ingest"}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Nodes) != 0 || len(cfg.Catchup) != 0 || cfg.Startup || len(cfg.Senders) == 0 || len(cfg.RPCClients) == 0 || cfg.Rooms != 0 {
		t.Fatalf("--only ingest kept %+v", cfg)
	}
	cfg = bench.DefaultConfig()
	cfg.Rooms = 0
	if err := onlyParts(&cfg, []string{"rooms"}); err != nil || cfg.Rooms == 0 || len(cfg.Nodes) != 0 || len(cfg.Senders) != 0 {
		t.Fatalf("--only rooms kept %+v (%v)", cfg, err)
	}
	cfg = bench.FullConfig()
	if err := onlyParts(&cfg, []string{"delivery", "startup"}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Nodes) == 0 || !cfg.Startup || len(cfg.Senders) != 0 || len(cfg.Catchup) != 0 || len(cfg.ProcNodes) != 0 {
		t.Fatalf("--only delivery,startup kept %+v", cfg)
	}
	cfg = bench.DefaultConfig() // no daemon rooms unless asked for
	if err := onlyParts(&cfg, []string{"procs"}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.ProcNodes) == 0 || len(cfg.Nodes) != 0 || cfg.Startup {
		t.Fatalf("--only procs kept %+v", cfg)
	}
	cfg = bench.DefaultConfig() // no bare-pubsub room unless asked for
	if err := onlyParts(&cfg, []string{"bare"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Bare, []int{10}) || len(cfg.Nodes) != 0 || len(cfg.Senders) != 0 || cfg.Startup {
		t.Fatalf("--only bare kept %+v", cfg)
	}
	cfg = bench.FullConfig()
	if len(cfg.Bare) == 0 {
		t.Fatal("--full has no bare-pubsub rooms")
	}
	if err := onlyParts(&cfg, []string{"delivery"}); err != nil || len(cfg.Bare) != 0 {
		t.Fatalf("--full --only delivery kept the bare rooms %v (%v)", cfg.Bare, err)
	}
	cfg = bench.FullConfig()
	if err := onlyParts(&cfg, []string{"bare"}); err != nil || !slices.Equal(cfg.Bare, bench.FullConfig().Bare) || len(cfg.Nodes) != 0 {
		t.Fatalf("--full --only bare kept %v, nodes %v (%v)", cfg.Bare, cfg.Nodes, err)
	}
	cfg = bench.DefaultConfig()
	cfg.Soak = time.Minute
	if err := onlyParts(&cfg, []string{"ingest"}); err != nil || cfg.Soak != 0 {
		t.Fatalf("--soak 1m --only ingest kept the soak (%v, %v)", cfg.Soak, err)
	}
	cfg = bench.DefaultConfig() // named without --soak: a 2-minute soak alone
	if err := onlyParts(&cfg, []string{"soak"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Soak != 2*time.Minute || len(cfg.Nodes) != 0 || len(cfg.Senders) != 0 || len(cfg.Catchup) != 0 || cfg.Startup {
		t.Fatalf("--only soak kept %+v", cfg)
	}
	if err := onlyParts(&cfg, []string{"ingst"}); err == nil {
		t.Fatal("--only ingst: no error")
	}
}

// parley bench --only procs starts real daemons, links them, sends over
// the RPC and receives over WebSocket: every message reaches every node.
func TestBenchProcsE2E(t *testing.T) {
	out, err := exec.Command(parleyBin, "bench", "--only", "procs", "--procs", "3",
		"--duration", "1s", "--messages", "20", "--json", "--quiet").Output()
	if err != nil {
		t.Fatalf("parley bench: %v\n%s", err, out)
	}
	var rep bench.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if len(rep.ProcDelivery) != 1 {
		t.Fatalf("want one load point, got %+v (notes %v)", rep.ProcDelivery, rep.Notes)
	}
	r := rep.ProcDelivery[0]
	if r.Nodes != 3 || r.Sent != 20 || r.Delivered != 1 || r.Err != "" || r.P50 <= 0 {
		t.Fatalf("load point %+v (notes %v)", r, rep.Notes)
	}
}

// parley bench --only startup starts real daemons on an empty and a
// filled data dir, and reads the filled one's history: the newest page,
// pages walking back and a page from the middle, all full.
func TestBenchStartupE2E(t *testing.T) {
	out, err := exec.Command(parleyBin, "bench", "--only", "startup", "--startup-events", "2000", "--json", "--quiet").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("parley bench: %v\n%s\n%s", err, out, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if len(rep.Startup) != 2 || rep.Startup[0].History != nil || rep.Startup[1].Events != 2000 {
		t.Fatalf("startup results %+v (notes %v)", rep.Startup, rep.Notes)
	}
	for _, r := range rep.Startup {
		if r.Err != "" || r.Median <= 0 || len(r.Runs) != 3 {
			t.Errorf("startup on %d events: %+v", r.Events, r)
		}
	}
	h := rep.Startup[1].History
	if h == nil || h.Err != "" || h.Newest <= 0 || h.Pages != 20 || h.BackP50 <= 0 || h.BackMax < h.BackP50 || h.Middle <= 0 || h.MiddleWarm <= 0 {
		t.Fatalf("history: %+v", h)
	}
}

// Sizes out of range and contradictory flags are usage errors (exit 2).
func TestBenchBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--size", "10"}, "text size 10 bytes"},
		{[]string{"--size", "20000"}, "text size 20000 bytes"},
		{[]string{"--only", "rooms", "--rooms", "0"}, "measures nothing"},
	} {
		args := append([]string{"bench", "--quiet"}, c.args...)
		_, errOut, code := runCLI(t, args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Fatalf("parley %v: exit %d, stderr %q; want exit 2 saying %q", args, code, errOut, c.want)
		}
	}
}

// The soak's own flags without a soak are a usage error (exit 2), not
// silently ignored.
func TestBenchSoakFlagsNeedSoak(t *testing.T) {
	for _, f := range [][]string{{"--soak-nodes", "5"}, {"--soak-rate", "50"}, {"--memprofile", t.TempDir() + "/heap"}} {
		args := append([]string{"bench", "--only", "ingest", "--quiet"}, f...)
		_, errOut, code := runCLI(t, args...)
		if code != 2 || !strings.Contains(errOut, f[0]+" is for the soak") {
			t.Fatalf("parley %v: exit %d, stderr %q; want exit 2 naming %s", args, code, errOut, f[0])
		}
	}
}
