package rpc_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the server's answers")

// TestGolden replays testdata/*.golden: "--> " lines are POST bodies, the
// following "<-- " line is the exact response body, or "<-- 204" for no
// content. Lines starting with "//" are comments.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.golden")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".golden"), func(t *testing.T) {
			ts := startServer(t, nil)
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			var out []string
			sc := bufio.NewScanner(fh)
			sc.Buffer(nil, 1<<20)
			var pending string
			for n := 1; sc.Scan(); n++ {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "--> "):
					pending = line[4:]
					out = append(out, line)
				case strings.HasPrefix(line, "<-- "):
					code, body := ts.post(t, pending, nil)
					got := "<-- " + body
					if code == http.StatusNoContent {
						got = "<-- 204"
					} else if code != http.StatusOK {
						t.Fatalf("%s:%d: status %d", f, n, code)
					}
					if got != line && !*update {
						t.Errorf("%s:%d: request %s\n got: %s\nwant: %s", f, n, pending, got, line)
					}
					out = append(out, got)
				default:
					out = append(out, line)
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(f, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestInvalidParams(t *testing.T) {
	ts := startServer(t, nil)
	tests := []struct {
		name, params, method string
		want                 string // substring of the message
	}{
		{"missing required", `[]`, "node_connect", `missing required param "multiaddr" (position 1)`},
		{"omitted required", ``, "msg_send", `missing required param "room" (position 1)`},
		{"null required", `[null]`, "room_join", `missing required param "name"`},
		{"second missing", `["r"]`, "msg_send", `missing required param "text" (position 2)`},
		{"wrong type", `[42]`, "node_connect", `param "multiaddr" (position 1): want string, got number`},
		{"too many", `[1]`, "node_info", `node_info takes at most 0 params, got 1`},
		{"by name", `{"multiaddr":"x"}`, "node_connect", `params must be a positional array`},
		{"object field type", `["r",{"limit":"ten"}]`, "msg_history", `param "query" (position 2): field "limit": want integer, got string`},
		{"unknown field", `["r",{"limt":3}]`, "msg_history", `param "query" (position 2): unknown field "limt"`},
		{"negative limit", `["r",{"limit":-1}]`, "msg_history", `param "query" (position 2): field "limit": must not be negative`},
		{"bad policy", `["m-x","closed"]`, "room_policy", `param "policy" (position 2): want "open" or "members"`},
		{"create unknown field", `[{"nam":"x"}]`, "room_create", `unknown field "nam"`},
		{"query not object", `["r",[1]]`, "msg_history", `param "query" (position 2): want object, got array`},
		{"subscribe kind", `["blocks"]`, "chat_subscribe", `param "kind" (position 1): unsupported subscription kind "blocks"`},
		{"empty multiaddr", `[""]`, "node_connect", `param "multiaddr" (position 1): must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":7,"method":"` + tt.method + `"`
			if tt.params != "" {
				body += `,"params":` + tt.params
			}
			r := ts.call(t, body+"}")
			if r.Error == nil || r.Error.Code != api.CodeInvalidParams {
				t.Fatalf("got %+v, want -32602", r)
			}
			if !strings.Contains(r.Error.Message, tt.want) {
				t.Fatalf("message %q does not contain %q", r.Error.Message, tt.want)
			}
		})
	}
}

func TestApplicationErrors(t *testing.T) {
	ts := startServer(t, nil)
	tests := []struct {
		method, params string
		code           api.Code
	}{
		{"room_join", `["bad name!"]`, api.CodeInvalidArgument},
		{"room_leave", `["nope"]`, api.CodeUnknownRoom},
		{"msg_send", `["outsider","hi"]`, api.CodeNotMember},
		{"msg_send", `["r",""]`, api.CodeInvalidArgument},
		{"msg_send", `["r","` + strings.Repeat("x", 101) + `"]`, api.CodeTooLarge},
		{"msg_send", `["broken","hi"]`, api.CodeStorage},
		{"msg_send", `["undurable","hi"]`, api.CodeNotDurable},
		{"msg_send", `["brokendisk","hi"]`, api.CodeStorage},
		{"msg_history", `["r",{"before":"bogus"}]`, api.CodeInvalidArgument},
		{"node_connect", `["unreachable"]`, api.CodeUnreachable},
		{"room_create", `[{"name":"x","private":true}]`, api.CodeNotSupportedYet},
		{"room_ban", `["general","12D3KooWTest"]`, api.CodeNoAdmins},
		{"room_admins", `["general"]`, api.CodeNoAdmins},
		{"node_connect", `["plain"]`, api.CodeUnreachable},
		{"node_connect", `["bad"]`, api.CodeInvalidArgument},
		{"chat_subscribe", `["messages"]`, api.CodeUnsupported},
		{"chat_unsubscribe", `["0x01"]`, api.CodeUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.params[:min(len(tt.params), 20)], func(t *testing.T) {
			r := ts.call(t, `{"jsonrpc":"2.0","id":"x","method":"`+tt.method+`","params":`+tt.params+`}`)
			if r.Error == nil || r.Error.Code != tt.code {
				t.Fatalf("got %+v, want code %d", r.Error, tt.code)
			}
			if r.Result != nil {
				t.Fatalf("result and error both set")
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	ts := startServer(t, func(c *rpc.Config) { c.CallTimeout = 50_000_000 }) // 50ms
	r := ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"node_connect","params":["slow"]}`)
	if r.Error == nil || r.Error.Code != api.CodeTimeout {
		t.Fatalf("got %+v, want -32008", r.Error)
	}
}

func TestPanicRecovered(t *testing.T) {
	ts := startServer(t, nil)
	for range 3 {
		r := ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"node_connect","params":["panic"]}`)
		if r.Error == nil || r.Error.Code != api.CodeInternal || r.Error.Message != "internal error" {
			t.Fatalf("got %+v, want -32603 internal error", r.Error)
		}
		if r := ts.call(t, infoReq); r.Error != nil {
			t.Fatalf("after panic: %+v", r.Error)
		}
	}
}

func TestIDEcho(t *testing.T) {
	ts := startServer(t, nil)
	for _, id := range []string{`"abc"`, `""`, `"\u00e9\n"`, `0`, `-7`, `1.5`, `12345678901234567890123456789`, `1e400`, `-0.0e-5`, `null`} {
		t.Run(id, func(t *testing.T) {
			r := ts.call(t, `{"jsonrpc":"2.0","method":"node_info","id":`+id+`}`)
			if string(r.ID) != id {
				t.Fatalf("id = %s, want %s", r.ID, id)
			}
			if r.Error != nil {
				t.Fatalf("error %+v", r.Error)
			}
		})
	}
}

func TestNotifications(t *testing.T) {
	ts := startServer(t, nil)
	tests := []struct{ name, body string }{
		{"single", `{"jsonrpc":"2.0","method":"node_connect","params":["a"]}`},
		{"batch", `[{"jsonrpc":"2.0","method":"node_connect","params":["a"]},{"jsonrpc":"2.0","method":"node_connect","params":["b"]}]`},
		{"unknown method", `{"jsonrpc":"2.0","method":"nope"}`},
		{"panicking", `{"jsonrpc":"2.0","method":"node_connect","params":["panic"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.node.connects.Load()
			code, body := ts.post(t, tt.body, nil)
			if code != http.StatusNoContent || body != "" {
				t.Fatalf("status %d body %q, want 204 and no body", code, body)
			}
			want := int64(strings.Count(tt.body, "node_connect"))
			if got := ts.node.connects.Load() - before; got != want {
				t.Fatalf("%d calls executed, want %d", got, want)
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	for _, withChat := range []bool{true, false} {
		name := "chat"
		fc := newFakeChat()
		if !withChat {
			name, fc = "bootstrap", nil
		}
		t.Run(name, func(t *testing.T) {
			ts := startServerWith(t, nil, fc)
			r := ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}`)
			if r.Error != nil {
				t.Fatal(r.Error)
			}
			var doc struct {
				OpenRPC string `json:"openrpc"`
				Info    struct{ Version string }
				Methods []struct {
					Name    string `json:"name"`
					Summary string `json:"summary"`
					Params  []struct {
						Name     string         `json:"name"`
						Required bool           `json:"required"`
						Schema   map[string]any `json:"schema"`
					} `json:"params"`
					Result struct {
						Name   string         `json:"name"`
						Schema map[string]any `json:"schema"`
					} `json:"result"`
				} `json:"methods"`
				Components struct {
					Schemas map[string]any `json:"schemas"`
				} `json:"components"`
			}
			if err := json.Unmarshal(r.Result, &doc); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(doc.OpenRPC, "1.2.") {
				t.Errorf("openrpc = %q", doc.OpenRPC)
			}
			var names []string
			for _, m := range doc.Methods {
				names = append(names, m.Name)
				if m.Summary == "" || m.Result.Name == "" || len(m.Result.Schema) == 0 {
					t.Errorf("%s: incomplete entry %+v", m.Name, m)
				}
				for _, p := range m.Params {
					if p.Name == "" || len(p.Schema) == 0 {
						t.Errorf("%s: param without name or schema", m.Name)
					}
				}
			}
			if want := rpc.MethodNames(ts.Server); !slices.Equal(names, want) {
				t.Fatalf("discover lists %v, server serves %v", names, want)
			}
			if withChat && !slices.Equal(names, rpc.AllMethodNames()) {
				t.Fatalf("discover lists %v, registry has %v", names, rpc.AllMethodNames())
			}
			if !withChat && !slices.Equal(names, []string{"node_info", "node_peers", "node_connect", "rpc.discover"}) {
				t.Fatalf("bootstrap serves %v", names)
			}
			// Every method listed is dispatched (never -32601).
			for _, n := range names {
				r := ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"`+n+`"}`)
				if r.Error != nil && r.Error.Code == api.CodeMethodNotFound {
					t.Errorf("%s listed but not found", n)
				}
			}
			// Every $ref resolves.
			raw := string(r.Result)
			for _, part := range strings.Split(raw, `"$ref":"#/components/schemas/`)[1:] {
				ref := part[:strings.IndexByte(part, '"')]
				if _, ok := doc.Components.Schemas[ref]; !ok {
					t.Errorf("dangling $ref %q", ref)
				}
			}
		})
	}
}

func TestNoChat(t *testing.T) {
	ts := startServerWith(t, nil, nil)
	r := ts.call(t, `{"jsonrpc":"2.0","id":1,"method":"room_list"}`)
	if r.Error == nil || r.Error.Code != api.CodeMethodNotFound || !strings.Contains(r.Error.Message, "no chat service") {
		t.Fatalf("got %+v", r.Error)
	}
	if r := ts.call(t, infoReq); r.Error != nil {
		t.Fatal(r.Error)
	}
}

func TestResults(t *testing.T) {
	ts := startServer(t, nil)
	tests := []struct{ req, want string }{
		{`{"jsonrpc":"2.0","id":1,"method":"node_info","params":[]}`, `{"peerId":"12D3KooWTest","addrs":["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWTest"],"version":"test","peers":1,"rooms":2,"reachability":"","relayAddrs":null,"sync":null}`},
		{`{"jsonrpc":"2.0","id":1,"method":"node_peers"}`, `[{"peerId":"12D3KooWPeer","addrs":["/ip4/127.0.0.1/tcp/4002"]}]`},
		{`{"jsonrpc":"2.0","id":1,"method":"node_connect","params":["/ip4/1.2.3.4/tcp/1/p2p/x"]}`, `true`},
		{`{"jsonrpc":"2.0","id":1,"method":"room_join","params":["general"]}`, `{"id":"id-general","name":"general","private":false}`},
		{`{"jsonrpc":"2.0","id":1,"method":"room_leave","params":["general"]}`, `true`},
		{`{"jsonrpc":"2.0","id":1,"method":"room_list"}`, `[]`},
		{`{"jsonrpc":"2.0","id":1,"method":"msg_history","params":["general",{"limit":1}]}`, `[{"id":"m1","room":"id-general","author":"12D3KooWTest","text":"hello","time":"2025-01-02T03:04:05Z","lamport":1,"parents":[],"cursor":"c1"}]`},
		{`{"jsonrpc":"2.0","id":1,"method":"msg_send","params":["general","<b>hi</b> & bye"]}`, `{"id":"m1","room":"id-general","author":"12D3KooWTest","text":"<b>hi</b> & bye","time":"2025-01-02T03:04:05Z","lamport":1,"parents":[],"cursor":"c1"}`},
		{`{"jsonrpc":"2.0","id":1,"method":"ledger_verify"}`, `{"ok":true,"events":3,"problems":[]}`},
		{`{"jsonrpc":"2.0","id":1,"method":"ledger_verify","params":["general"]}`, `{"ok":true,"events":3,"problems":[]}`},
	}
	for _, tt := range tests {
		r := ts.call(t, tt.req)
		if r.Error != nil {
			t.Errorf("%s: %+v", tt.req, r.Error)
			continue
		}
		if string(r.Result) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.req, r.Result, tt.want)
		}
	}
}

// The calls of one batch run together, up to 32 at a time, so that a
// batch of msg_send shares the ledger's commit groups.
func TestBatchCallsRunTogether(t *testing.T) {
	const n = 32
	fc := newFakeChat()
	fc.gatherN = n
	ts := startServerWith(t, nil, fc)
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":"msg_send","params":["gather","hi %d"]}`, i, i)
	}
	b.WriteString("]")
	status, body := ts.post(t, b.String(), nil)
	if status != 200 || strings.Contains(body, `"error"`) || strings.Count(body, `"result"`) != n {
		t.Fatalf("status %d, body %s", status, body)
	}
}
