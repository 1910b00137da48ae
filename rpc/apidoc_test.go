package rpc_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc"
)

// apiDocPath is docs/API.md, relative to this package.
var apiDocPath = filepath.Join("..", "docs", "API.md")

// TestAPIDocUpToDate checks that docs/API.md is what the registry renders.
// After changing a method, run: go test ./rpc -run TestAPIDocUpToDate -update
func TestAPIDocUpToDate(t *testing.T) {
	want := append(rpc.RenderAPIDoc(), '\n')
	if *update {
		if err := os.WriteFile(apiDocPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(apiDocPath)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./rpc -run TestAPIDocUpToDate -update)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/API.md is stale from line %d:\n file: %q\n want: %q\nregenerate: go test ./rpc -run TestAPIDocUpToDate -update", i+1, g, w)
			}
		}
	}
}

// Every method is documented with its params, an example and errors.
func TestAPIDocCoversRegistry(t *testing.T) {
	doc := string(rpc.RenderAPIDoc())
	for _, name := range rpc.AllMethodNames() {
		sec, ok := strings.CutPrefix(doc[strings.Index(doc, "### `"+name+"`"):], "### `"+name+"`")
		if !ok {
			t.Fatalf("%s: no section", name)
		}
		if i := strings.Index(sec, "\n### "); i >= 0 {
			sec = sec[:i]
		}
		for _, want := range []string{"**Result:**", "**Errors:**", "websocat", `"method":"` + name + `"`} {
			if !strings.Contains(sec, want) {
				t.Errorf("%s: section lacks %q", name, want)
			}
		}
	}
	for _, want := range []string{"-32011", "429", "Retry-After", "Origin", "Host", "since", "cursor", "chat_subscription"} {
		if !strings.Contains(doc, want) {
			t.Errorf("doc lacks %q", want)
		}
	}
}
