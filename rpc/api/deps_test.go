package api_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The wire package is a leaf: it imports only the standard library, so an
// app that imports it gets nothing of the node.
func TestImportsOnlyStdlib(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/parley-chat/parley/rpc/api" {
			t.Errorf("rpc/api depends on %s", p)
		}
	}
}
