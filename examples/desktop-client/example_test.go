// Package desktopclient_test runs the JavaScript desktop-client example
// (client.js) against a real Parley node.
package desktopclient_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/parley-chat/parley/node"
)

// nodeJS returns the node binary, skipping the test without one, and makes
// sure the example's dependencies are installed (npm ci from the lock file).
func nodeJS(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node (Node.js 20+) is not on PATH; the JavaScript example cannot run")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "ws", "package.json")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("node_modules is missing and npm is not on PATH: run npm ci in examples/desktop-client")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return bin
}

func startNode(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	off := false
	n, err := node.New(t.Context(), node.Options{
		DataDir:   dir,
		Config:    node.Config{Name: "example", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, RPC: "127.0.0.1:0", MDNS: &off, NATPortMap: &off, LogLevel: "warn"},
		Datastore: dssync.MutexWrap(ds.NewMapDatastore()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return dir
}

// The example joins a room, subscribes, sends and exits 0 once its own
// message is pushed back to it.
func TestDesktopClient(t *testing.T) {
	bin := nodeJS(t)
	dir := startNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "client.js", dir, "--room", "general", "--timeout", "8000")
	out, err := cmd.CombinedOutput()
	t.Logf("client.js output:\n%s", out)
	if err != nil {
		t.Fatalf("client.js: %v", err)
	}
	for _, want := range []string{"joined #general", "subscribed (0x", "own message pushed back: OK"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// Without a running daemon it fails with a clear message and exit code 1;
// $PARLEY_DATA is honoured when no directory is given.
func TestDesktopClientNoDaemon(t *testing.T) {
	bin := nodeJS(t)
	cmd := exec.CommandContext(t.Context(), bin, "client.js")
	cmd.Env = append(os.Environ(), "PARLEY_DATA="+t.TempDir())
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "rpc.addr") {
		t.Fatalf("output does not name rpc.addr:\n%s", out)
	}
}
