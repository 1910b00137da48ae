package chat

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/ledger"
)

// MaxTextBytes bounds a message's text (UTF-8 bytes).
const MaxTextBytes = 16 << 10

// Message is a chat message as apps see it. Fields may be added; none is
// ever removed or changes meaning.
type Message struct {
	ID         string   `json:"id"`
	Room       string   `json:"room"`
	Author     string   `json:"author"`
	AuthorName string   `json:"authorName,omitempty"`
	Text       string   `json:"text"`
	Time       string   `json:"time"` // RFC 3339, the author's claimed time
	Lamport    uint64   `json:"lamport"`
	Parents    []string `json:"parents"`
	// Cursor is this node's arrival position of the message; pass it as
	// `since` to resume a subscription right after it.
	Cursor string `json:"cursor"`
	// Redacted, set only on a subscription, is the ID of a message shown
	// before and hidden now (a ban arrived); the other fields but Room
	// are then empty. History no longer returns it.
	Redacted string `json:"-"`
}

// msgBody is the body of a msg event.
type msgBody struct {
	Text string `json:"text"`
}

// memberBody is the body of join, leave and profile events.
type memberBody struct {
	Name string `json:"name,omitempty"`
}

func encodeText(text string) ([]byte, error) {
	if text == "" {
		return nil, ErrEmptyMessage
	}
	if len(text) > MaxTextBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(text), MaxTextBytes)
	}
	if !utf8.ValidString(text) {
		return nil, ErrInvalidText
	}
	return json.Marshal(msgBody{Text: text})
}

// toMessage turns a msg event into a Message; ok is false for other kinds
// or an unreadable body (which is shown to nobody).
func toMessage(ev *ledger.Event, name string) (Message, bool) {
	if ev.Kind != ledger.KindMsg {
		return Message{}, false
	}
	var b msgBody
	if err := json.Unmarshal(ev.Body, &b); err != nil || b.Text == "" {
		return Message{}, false
	}
	return message(ev, name, b.Text), true
}

// message is the Message of msg event ev whose body says text.
func message(ev *ledger.Event, name, text string) Message {
	parents := make([]string, len(ev.Parents))
	for i, p := range ev.Parents {
		parents[i] = p.String()
	}
	return Message{
		ID:         ev.IDText(),
		Room:       ev.Room,
		Author:     ev.AuthorText(),
		AuthorName: name,
		Text:       text,
		Time:       claimedTime(ev.Time).Format(time.RFC3339Nano),
		Lamport:    ev.Lamport,
		Parents:    parents,
		Cursor:     strconv.FormatUint(ev.Seq, 10),
	}
}

// The range of times RFC 3339 can write (four-digit years).
var (
	minClaimedTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxClaimedTime = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
)

// claimedTime is an author's claimed time (Unix milliseconds) for display,
// clamped into years 0001–9999 so that it always formats as RFC 3339.
// Claimed times are not checked: an author may say anything, and the
// signed event keeps what it said; order comes from the Lamport clock.
func claimedTime(ms int64) time.Time {
	t := time.UnixMilli(ms).UTC()
	switch {
	case t.Before(minClaimedTime):
		return minClaimedTime
	case t.After(maxClaimedTime):
		return maxClaimedTime
	}
	return t
}
