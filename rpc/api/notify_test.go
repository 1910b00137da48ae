package api_test

import (
	"encoding/json"
	"testing"

	"github.com/parley-chat/parley/rpc/api"
)

// A redaction is a notification's result on the wire and decodes back as
// a Redaction; a message still decodes as a Message.
func TestSubscriptionParamsRedaction(t *testing.T) {
	b, err := json.Marshal(api.SubscriptionParams{Subscription: "0x1", Redaction: &api.Redaction{Redacted: "v28gabc", Room: "mroom"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"subscription":"0x1","result":{"redacted":"v28gabc","room":"mroom"}}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var p api.SubscriptionParams
	if err := json.Unmarshal(b, &p); err != nil || p.Redaction == nil || p.Redaction.Redacted != "v28gabc" || p.Result != nil {
		t.Fatalf("decoded %+v, %v", p, err)
	}
	b, _ = json.Marshal(api.SubscriptionParams{Subscription: "0x1", Result: &api.Message{ID: "v28gdef", Text: "hi"}})
	if err := json.Unmarshal(b, &p); err != nil || p.Result == nil || p.Result.Text != "hi" || p.Redaction != nil {
		t.Fatalf("decoded %+v, %v", p, err)
	}
	b, _ = json.Marshal(api.SubscriptionParams{Subscription: "0x1", Error: &api.Error{Code: api.CodeSubscriptionDropped}})
	if err := json.Unmarshal(b, &p); err != nil || p.Error == nil || p.Result != nil || p.Redaction != nil {
		t.Fatalf("decoded %+v, %v", p, err)
	}
}
