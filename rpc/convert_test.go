package rpc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
)

// The wire types encode exactly as the domain values they replace in the
// API did, empty and nil slices included.
func TestConvertKeepsJSON(t *testing.T) {
	full := chat.Message{ID: "v28g", Room: "pabc", Author: "12D3Koo", AuthorName: "alice", Text: "hi \u2603 <b>",
		Time: "2025-01-02T03:04:05.123456789Z", Lamport: 7, Parents: []string{"a", "b"}, Cursor: "42"}
	tests := []struct {
		name       string
		domain     any
		wire       any
		wantInJSON string
	}{
		{"message", full, toMessage(full), `"authorName":"alice"`},
		{"message no name, nil parents", chat.Message{ID: "x"}, toMessage(chat.Message{ID: "x"}), `"parents":null`},
		{"message empty parents", chat.Message{Parents: []string{}}, toMessage(chat.Message{Parents: []string{}}), `"parents":[]`},
		{"messages", []chat.Message{full, {}}, toMessages([]chat.Message{full, {}}), `"cursor":"42"`},
		{"nil messages", []chat.Message(nil), toMessages(nil), `null`},
		{"room", chat.Room{ID: "p1", Name: "general", Private: true}, toRoom(chat.Room{ID: "p1", Name: "general", Private: true}), `"private":true`},
		{"rooms", []chat.Room{{ID: "p1"}}, toRooms([]chat.Room{{ID: "p1"}}), `"id":"p1"`},
		{"members", []chat.Member{{PeerID: "12D", Name: "", LastSeen: "2026-11-25T14:03:07Z"}},
			toMembers([]chat.Member{{PeerID: "12D", Name: "", LastSeen: "2026-11-25T14:03:07Z"}}), `"name":""`},
		{"nil members", []chat.Member(nil), toMembers(nil), `null`},
		{"report", chat.VerifyReport{OK: false, Events: 3, Problems: []ledger.Problem{{Event: "e", Reason: "bad signature"}}},
			toReport(chat.VerifyReport{OK: false, Events: 3, Problems: []ledger.Problem{{Event: "e", Reason: "bad signature"}}}), `"reason":"bad signature"`},
		{"report nil problems", chat.VerifyReport{OK: true}, toReport(chat.VerifyReport{OK: true}), `"problems":null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.domain)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(tt.wire)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("wire JSON differs from domain JSON:\n got: %s\nwant: %s", got, want)
			}
			if !json.Valid(got) || !strings.Contains(string(got), tt.wantInJSON) {
				t.Fatalf("JSON %s lacks %s", got, tt.wantInJSON)
			}
		})
	}
}
