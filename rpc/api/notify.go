package api

import (
	"bytes"
	"encoding/json"
)

// NotificationMethod is the method name of subscription notifications:
//
//	{"jsonrpc":"2.0","method":"chat_subscription","params":{"subscription":ID,"result":Message}}
//
// When a subscription ends for any reason other than chat_unsubscribe or the
// connection closing, one last notification carries "error" instead of
// "result": {"code":-32009,"message":...,"data":{"cursor":LAST}} where LAST
// is the cursor of the last delivered message (or the since it started
// with); subscribe again with since=LAST to resume without gaps.
const NotificationMethod = "chat_subscription"

// SubscriptionParams is the params object of a chat_subscription
// notification. Exactly one of Result, Redaction and Error is set; on the
// wire a Redaction is the notification's "result" too:
//
//	{"jsonrpc":"2.0","method":"chat_subscription","params":{"subscription":ID,"result":{"redacted":MSGID,"room":ROOM}}}
type SubscriptionParams struct {
	Subscription string     `json:"subscription"`
	Result       *Message   `json:"result,omitempty"`
	Redaction    *Redaction `json:"-"`
	Error        *Error     `json:"error,omitempty"`
}

// Redaction withdraws a message that a subscription delivered before: a
// moderated room's admin banned its author, and the message is hidden
// now (msg_history no longer returns it). It has no cursor.
type Redaction struct {
	Redacted string `json:"redacted"` // the message ID
	Room     string `json:"room"`
}

type wireParams struct {
	Subscription string          `json:"subscription"`
	Result       json.RawMessage `json:"result,omitempty"`
	Error        *Error          `json:"error,omitempty"`
}

// MarshalJSON writes a Redaction as the result.
func (p SubscriptionParams) MarshalJSON() ([]byte, error) {
	w := wireParams{Subscription: p.Subscription, Error: p.Error}
	var err error
	switch {
	case p.Redaction != nil:
		w.Result, err = json.Marshal(p.Redaction)
	case p.Result != nil:
		w.Result, err = json.Marshal(p.Result)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a result holding "redacted" as a Redaction, any
// other as a Message.
func (p *SubscriptionParams) UnmarshalJSON(b []byte) error {
	var w wireParams
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = SubscriptionParams{Subscription: w.Subscription, Error: w.Error}
	if len(w.Result) == 0 || bytes.Equal(w.Result, []byte("null")) {
		return nil
	}
	var probe struct {
		Redacted *string `json:"redacted"`
	}
	if err := json.Unmarshal(w.Result, &probe); err != nil {
		return err
	}
	if probe.Redacted != nil {
		p.Redaction = new(Redaction)
		return json.Unmarshal(w.Result, p.Redaction)
	}
	p.Result = new(Message)
	return json.Unmarshal(w.Result, p.Result)
}

// SubscriptionEnd is the Data of the final notification's error
// (CodeSubscriptionDropped).
type SubscriptionEnd struct {
	Cursor string `json:"cursor"`
}
