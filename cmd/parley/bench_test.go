package main

import (
	"testing"

	"github.com/parley-chat/parley/internal/bench"
)

func TestBenchOnlyParts(t *testing.T) {
	cfg := bench.DefaultConfig()
	if err := onlyParts(&cfg, []string{"ingest"}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Nodes) != 0 || len(cfg.Catchup) != 0 || cfg.Startup || len(cfg.Senders) == 0 || len(cfg.RPCClients) == 0 {
		t.Fatalf("--only ingest kept %+v", cfg)
	}
	cfg = bench.DefaultConfig()
	if err := onlyParts(&cfg, []string{"delivery", "startup"}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Nodes) == 0 || !cfg.Startup || len(cfg.Senders) != 0 || len(cfg.Catchup) != 0 {
		t.Fatalf("--only delivery,startup kept %+v", cfg)
	}
	if err := onlyParts(&cfg, []string{"ingst"}); err == nil {
		t.Fatal("--only ingst: no error")
	}
}
