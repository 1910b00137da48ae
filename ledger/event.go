package ledger

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Kinds of events Parley writes today. The set is open: the ledger stores
// any well-formed kind, and chat decides what each means.
const (
	KindMsg     = "msg"
	KindJoin    = "join"
	KindLeave   = "leave"
	KindProfile = "profile"
)

// Domain is the signature domain of Parley events: a signature made for
// anything else never verifies as an event.
const Domain = "parley-event"

// payloadType is the envelope payload type (the record's codec).
var payloadType = []byte("/parley/event/1")

// Event is one signed entry of a room's ledger. The exported fields are the
// signed content; ID and Raw are derived from the signed bytes, which are
// kept as received and never re-encoded. An Event returned by this package
// is immutable and safe to share between goroutines.
type Event struct {
	Room    string  // room ID
	Author  peer.ID // signer, from the envelope's public key
	Kind    string  // msg, join, leave, profile, …
	Body    []byte  // kind-specific content
	Time    int64   // author's claimed time, Unix milliseconds
	Lamport uint64  // 1 + the largest Lamport clock of its parents (1 for none)
	Parents []ID    // the room heads the author had seen, sorted

	// Seq is the local arrival sequence number, set when the event is read
	// from a ledger (0 otherwise). It is not signed and differs per node;
	// subscriptions use it as a resumable cursor.
	Seq uint64

	id  ID
	raw []byte
	// authorText and idText are the text forms of Author and ID, kept
	// because every stored key and fed message needs them: authorText is
	// set when the event is made, idText when a ledger stores it.
	authorText string
	idText     string
}

// ID returns the event's ID: the sha2-256 multihash of Raw.
func (e *Event) ID() ID { return e.id }

// IDText returns ID().String(), computed once per stored event.
func (e *Event) IDText() string {
	if e.idText != "" {
		return e.idText
	}
	return e.id.String()
}

// AuthorText returns Author.String(), computed once per author key.
func (e *Event) AuthorText() string {
	if e.authorText != "" {
		return e.authorText
	}
	return e.Author.String()
}

// Raw returns the signed bytes (a marshalled record.Envelope). Callers must
// not modify them.
func (e *Event) Raw() []byte { return e.raw }

// Timestamp returns the claimed time as a time.Time.
func (e *Event) Timestamp() time.Time { return time.UnixMilli(e.Time).UTC() }

// Draft holds what an author chooses for a new event; Sign completes it.
type Draft struct {
	Room    string
	Kind    string
	Body    []byte
	Time    time.Time
	Lamport uint64
	Parents []ID
}

// Sign seals d with key into an event. key must be Ed25519.
func Sign(key crypto.PrivKey, d Draft) (*Event, error) {
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: author key must be Ed25519", ErrInvalidEvent)
	}
	parents := slices.Clone(d.Parents)
	slices.Sort(parents)
	e := &Event{Room: d.Room, Kind: d.Kind, Body: d.Body, Time: d.Time.UnixMilli(), Lamport: d.Lamport, Parents: parents}
	if err := e.checkFields(); err != nil {
		return nil, err
	}
	raw, author, err := seal(key, encodePayload(e))
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxEventSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidEvent, len(raw), MaxEventSize)
	}
	e.Author, e.authorText = author.id, author.text
	e.raw, e.id = raw, ComputeID(raw)
	return e, nil
}

// Decode parses and verifies signed event bytes: size, envelope, Parley
// domain and payload type, Ed25519 signature, canonical encoding and field
// limits. The returned event keeps raw as its bytes. Decode does not check
// the event against a room's ledger (parents); Ledger.Add does.
func Decode(raw []byte) (*Event, error) { return verified(openCopy(raw)) }

// DecodeOwned is Decode for a buffer the caller hands over: the event
// keeps raw as its bytes instead of a copy, so nobody may modify raw
// afterwards. Gossip uses it: pubsub never reuses a message's data, and
// keeps it for its gossip cache anyway, so a copy would only double what
// each recent message holds in memory.
func DecodeOwned(raw []byte) (*Event, error) { return verified(open(raw, false)) }

// verified is the event of an opened envelope whose signature verifies.
func verified(s *sealed, err error) (*Event, error) {
	if err != nil {
		return nil, err
	}
	if err := s.verify(); err != nil {
		return nil, err
	}
	return s.ev, nil
}

// parseTrusted parses event bytes that were verified when they were
// stored: it skips the signature check (the expensive part of Decode) but
// still parses and checks every field. Verify never uses it.
func parseTrusted(raw []byte) (*Event, error) {
	s, err := open(raw, true)
	if err != nil {
		return nil, err
	}
	return s.ev, nil
}
