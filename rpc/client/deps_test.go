package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// An app imports the client and the wire types, nothing of the server or
// the domain: among Parley's packages the client depends only on itself
// and rpc/api, and on no libp2p module.
func TestDependsOnlyOnWireTypes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/parley-chat/parley/rpc/client": true,
		"github.com/parley-chat/parley/rpc/api":    true,
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list printed nothing")
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/parley-chat/parley") && !allowed[p] || strings.Contains(p, "libp2p") {
			t.Errorf("rpc/client depends on %s", p)
		}
	}
}
