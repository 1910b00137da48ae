package api_test

import (
	"encoding/json"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc/api"
)

// codeConstants returns the value of every constant of type Code declared
// in this package's source, by name.
func codeConstants(t *testing.T) map[string]api.Code {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]api.Code{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				return true
			}
			for i, name := range vs.Names {
				v := evalInt(t, vs.Values[i])
				out[name.Name] = api.Code(v)
			}
			return true
		})
	}
	return out
}

// evalInt evaluates an integer literal, possibly negated.
func evalInt(t *testing.T, e ast.Expr) int64 {
	t.Helper()
	switch e := e.(type) {
	case *ast.BasicLit:
		v, ok := constant.Int64Val(constant.MakeFromLiteral(e.Value, e.Kind, 0))
		if !ok {
			t.Fatalf("constant %s is not an int", e.Value)
		}
		return v
	case *ast.UnaryExpr:
		if e.Op == token.SUB {
			return -evalInt(t, e.X)
		}
	}
	t.Fatalf("constant of type Code is not a plain integer literal")
	return 0
}

// The constants and the table are one list: every Code constant has
// exactly one row, every row a constant, and every row a message and a
// meaning.
func TestCodesTableMatchesConstants(t *testing.T) {
	consts := codeConstants(t)
	if len(consts) == 0 {
		t.Fatal("found no Code constants")
	}
	rows := map[api.Code]int{}
	for _, c := range api.Codes() {
		rows[c.Code]++
		if c.Message == "" || c.When == "" {
			t.Errorf("code %d: empty message or meaning", c.Code)
		}
		if c.Code.Message() != c.Message {
			t.Errorf("code %d: Message() = %q, want %q", c.Code, c.Code.Message(), c.Message)
		}
	}
	seen := map[api.Code]string{}
	for name, v := range consts {
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s are both %d", name, other, v)
		}
		seen[v] = name
		if rows[v] != 1 {
			t.Errorf("%s (%d) has %d rows in the table, want 1", name, v, rows[v])
		}
	}
	for c := range rows {
		if _, ok := seen[c]; !ok {
			t.Errorf("table row %d has no constant", c)
		}
	}
}

func TestCodesIsACopy(t *testing.T) {
	a := api.Codes()
	a[0].Message = "changed"
	if api.Codes()[0].Message == "changed" {
		t.Fatal("Codes returned the table itself")
	}
}

// Code marshals as a plain JSON number, as the contract's int did.
func TestErrorJSON(t *testing.T) {
	b, err := json.Marshal(&api.Error{Code: api.CodeNotMember, Message: "not a member"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"code":-32002,"message":"not a member"}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	if got := (&api.Error{Code: api.CodeTimeout, Message: "x"}).Error(); got != "rpc error -32008: x" {
		t.Fatalf("Error() = %q", got)
	}
}
