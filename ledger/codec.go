package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// Limits on an event's fields. They bound what a peer can make us store or
// verify; anything over them is invalid (P2).
const (
	// MaxEventSize bounds the signed bytes of one event.
	MaxEventSize = 64 << 10
	// MaxBodySize bounds an event's body.
	MaxBodySize = 48 << 10
	// MaxParents bounds how many parents one event may name.
	MaxParents = 32
	// MaxRoomLen bounds a room ID.
	MaxRoomLen = 64
	// MaxKindLen bounds an event kind.
	MaxKindLen = 32
)

// payloadVersion is the first byte of every encoded payload; a new layout
// gets a new version so old events keep their bytes and IDs.
const payloadVersion = 1

// encodePayload is the one canonical encoding of an event's signed fields:
//
//	version(1) | uvarint len, room | uvarint len, kind | uvarint len, body |
//	zigzag varint time (unix ms) | uvarint lamport | uvarint n | n × 34-byte parent IDs (sorted, unique)
//
// Varints are minimal (encoding/binary writes them so); decodePayload
// rejects any other byte string for the same fields.
func encodePayload(e *Event) []byte {
	n := 1 + 3*binary.MaxVarintLen64 + len(e.Room) + len(e.Kind) + len(e.Body) +
		3*binary.MaxVarintLen64 + len(e.Parents)*idLen
	b := make([]byte, 0, n)
	b = append(b, payloadVersion)
	b = binary.AppendUvarint(b, uint64(len(e.Room)))
	b = append(b, e.Room...)
	b = binary.AppendUvarint(b, uint64(len(e.Kind)))
	b = append(b, e.Kind...)
	b = binary.AppendUvarint(b, uint64(len(e.Body)))
	b = append(b, e.Body...)
	b = binary.AppendVarint(b, e.Time)
	b = binary.AppendUvarint(b, e.Lamport)
	b = binary.AppendUvarint(b, uint64(len(e.Parents)))
	for _, p := range e.Parents {
		b = append(b, p...)
	}
	return b
}

// decodePayload parses b into e's signed fields and checks them.
func decodePayload(b []byte, e *Event) error {
	orig := b
	if len(b) == 0 || b[0] != payloadVersion {
		return fmt.Errorf("%w: unknown payload version", ErrInvalidEvent)
	}
	b = b[1:]
	var err error
	field := func(name string, max int) []byte {
		if err != nil {
			return nil
		}
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(max) || n > uint64(len(b)-k) {
			err = fmt.Errorf("%w: bad %s length", ErrInvalidEvent, name)
			return nil
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v
	}
	room := field("room", MaxRoomLen)
	kind := field("kind", MaxKindLen)
	body := field("body", MaxBodySize)
	if err != nil {
		return err
	}
	t, k := binary.Varint(b)
	if k <= 0 {
		return fmt.Errorf("%w: bad time", ErrInvalidEvent)
	}
	b = b[k:]
	lamport, k := binary.Uvarint(b)
	if k <= 0 {
		return fmt.Errorf("%w: bad lamport", ErrInvalidEvent)
	}
	b = b[k:]
	np, k := binary.Uvarint(b)
	if k <= 0 || np > MaxParents || np*idLen != uint64(len(b)-k) {
		return fmt.Errorf("%w: bad parent list", ErrInvalidEvent)
	}
	b = b[k:]
	parents := make([]ID, np)
	for i := range parents {
		id, err := idFromBytes(b[i*idLen : (i+1)*idLen])
		if err != nil {
			return fmt.Errorf("%w: parent %d: %v", ErrInvalidEvent, i, err)
		}
		parents[i] = id
	}
	e.Room, e.Kind, e.Time, e.Lamport, e.Parents = string(room), string(kind), t, lamport, parents
	e.Body = bytes.Clone(body)
	if err := e.checkFields(); err != nil {
		return err
	}
	// One byte string per event: anything that re-encodes differently
	// (non-minimal varints, say) is not the canonical form.
	if !bytes.Equal(encodePayload(e), orig) {
		return fmt.Errorf("%w: non-canonical encoding", ErrInvalidEvent)
	}
	return nil
}

// checkFields validates the signed fields of e.
func (e *Event) checkFields() error {
	if err := ValidRoomID(e.Room); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if !validKind(e.Kind) {
		return fmt.Errorf("%w: bad kind %q", ErrInvalidEvent, e.Kind)
	}
	if len(e.Body) > MaxBodySize {
		return fmt.Errorf("%w: body of %d bytes exceeds %d", ErrInvalidEvent, len(e.Body), MaxBodySize)
	}
	if len(e.Parents) > MaxParents {
		return fmt.Errorf("%w: %d parents exceed %d", ErrInvalidEvent, len(e.Parents), MaxParents)
	}
	if e.Lamport == 0 {
		return fmt.Errorf("%w: lamport clock is zero", ErrInvalidEvent)
	}
	if !slices.IsSorted(e.Parents) || len(slices.Compact(slices.Clone(e.Parents))) != len(e.Parents) {
		return fmt.Errorf("%w: parents not sorted and unique", ErrInvalidEvent)
	}
	return nil
}

// ValidRoomID reports whether s can be a room ID: 1 to MaxRoomLen characters
// of [a-z0-9]. Room IDs appear in datastore keys and topic names, so they
// never contain separators.
func ValidRoomID(s string) error {
	if s == "" || len(s) > MaxRoomLen {
		return fmt.Errorf("room ID must be 1 to %d characters", MaxRoomLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return fmt.Errorf("room ID %q: only a-z and 0-9 allowed", s)
		}
	}
	return nil
}

func validKind(s string) bool {
	if s == "" || len(s) > MaxKindLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
