package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/failstore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/parley-chat/parley/node"
)

// errDiskFull stands in for ENOSPC from the real store.
var errDiskFull = errors.New("no space left on device")

// With the datastore failing writes (disk full), msg_send returns an
// error, nothing half-written appears, reads keep working, and once the
// disk has room again sending works and the ledger verifies.
func TestDiskFullFailsSendKeepsServing(t *testing.T) {
	var full atomic.Bool
	store := failstore.NewFailstore(dssync.MutexWrap(ds.NewMapDatastore()), func(op string) error {
		if full.Load() && (op == "put" || op == "delete" || op == "batch-put" || op == "batch-delete" || op == "batch-commit") {
			return errDiskFull
		}
		return nil
	})
	n := startNode(t, "", func(o *node.Options) { o.Datastore = store })
	ctx := t.Context()
	if _, err := n.Chat().Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Chat().Send(ctx, "general", "before"); err != nil {
		t.Fatal(err)
	}
	before := history(t, n, "general")

	full.Store(true)
	for i := range 3 {
		if _, err := n.Chat().Send(ctx, "general", "while full"); err == nil || !errors.Is(err, errDiskFull) {
			t.Fatalf("send %d on a full disk: %v, want the write error", i, err)
		}
	}
	// Reads still work and show nothing half-written.
	if got := history(t, n, "general"); len(got) != len(before) {
		t.Fatalf("history changed on a failed write: %d -> %d", len(before), len(got))
	}
	if info, err := n.Info(ctx); err != nil || info.Rooms != 1 {
		t.Fatalf("node_info while disk full: %+v %v", info, err)
	}

	full.Store(false)
	m, err := n.Chat().Send(ctx, "general", "after")
	if err != nil {
		t.Fatalf("send after the disk has room: %v", err)
	}
	if m.Parents[0] != before[len(before)-1].ID {
		t.Fatalf("new message does not link to the last stored one")
	}
	got := history(t, n, "general")
	if len(got) != 2 || got[1].Text != "after" {
		t.Fatalf("history after recovery: %+v", got)
	}
	rep, err := n.Chat().Verify(ctx, "")
	if err != nil || !rep.OK {
		t.Fatalf("verify after recovery: %+v %v", rep, err)
	}
}

// A damaged on-disk datastore stops the node with an error that names the
// directory and what to do, instead of starting empty and losing history.
func TestDamagedDatastoreNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	if _, err := n.Chat().Join(t.Context(), "general"); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, node.DatastoreDir, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatal("no Pebble MANIFEST to damage")
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte("this is not a manifest"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := node.New(t.Context(), node.Options{DataDir: dir, Config: testConfig()})
	if err == nil {
		t.Fatal("node started on a damaged datastore")
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, node.DatastoreDir)) || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("error does not name the datastore and the way out: %v", err)
	}
	// The failed start left nothing locked: a fresh datastore works.
	os.RemoveAll(filepath.Join(dir, node.DatastoreDir))
	startNode(t, dir)
}
