package p2p_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/parley-chat/parley"

// The import rule of DESIGN.md, checked on what the packages build with
// (tests excluded), transitively: p2p and its subpackages import no chat
// logic; ledger imports neither chat nor transport, RPC or node; chat and
// its subpackages (chat/e2ee) import no transport, RPC or node.
func TestImportsPointDownwards(t *testing.T) {
	rules := []struct {
		packages  string
		forbidden []string
	}{
		{module + "/p2p/...", []string{"chat"}},
		{module + "/ledger/...", []string{"chat", "p2p", "rpc", "node"}},
		{module + "/chat/...", []string{"p2p", "rpc", "node"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, r.packages).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", r.packages, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 0 || lines[0] == "" {
			t.Fatalf("go list %s printed nothing", r.packages)
		}
		for _, line := range lines {
			pkg, deps, _ := strings.Cut(line, " ")
			for _, dep := range strings.Fields(deps) {
				for _, f := range r.forbidden {
					if f = module + "/" + f; dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%s imports %s", pkg, dep)
					}
				}
			}
		}
	}
}
