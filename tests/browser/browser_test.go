package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// runTimeout bounds the whole browser run (two daemons, chromium and a
// 10,000-message room; about a minute on 2 cores).
const runTimeout = 4 * time.Minute

func TestBrowser(t *testing.T) {
	if os.Getenv("PARLEY_BROWSER") != "1" {
		t.Skip("browser tests need Debian's chromium and `npm ci` in tests/browser; set PARLEY_BROWSER=1 to run them (.ci/run does, after installing both)")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("PARLEY_BROWSER=1 but no chromium on PATH: apt-get install -y --no-install-recommends chromium")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("PARLEY_BROWSER=1 but no node on PATH")
	}
	for _, m := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join("node_modules", m)); err != nil {
			t.Fatalf("PARLEY_BROWSER=1 but %s is not installed: run npm ci in tests/browser", m)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "parley")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/parley")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build parley: %v\n%s", err, out)
	}

	run := exec.CommandContext(ctx, nodeBin, "--test", "--test-concurrency=1", "--test-reporter=spec", "chat.test.mjs", "private.test.mjs")
	run.Env = append(os.Environ(), "PARLEY_BIN="+bin, "CHROMIUM="+chromium)
	run.Stdout, run.Stderr = t.Output(), t.Output()
	run.WaitDelay = 10 * time.Second
	if err := run.Run(); err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}
