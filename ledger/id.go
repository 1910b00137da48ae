package ledger

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	mh "github.com/multiformats/go-multihash"
)

// ID identifies an event: the sha2-256 multihash of its signed bytes, held as
// the raw multihash bytes so it can be a map key and compared cheaply.
//
// Its text form is the multibase base32hex encoding ("v" prefix, lower case,
// no padding). base32hex keeps byte order, so sorting IDs as text and as bytes
// agree, which the (Lamport, ID) history order relies on.
type ID string

// idEncoding is base32hex lower case without padding: order preserving.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// idLen is the length of a sha2-256 multihash: code, length, 32 digest bytes.
const idLen = 34

// ErrBadID is returned when a string or byte slice is not a valid event ID.
var ErrBadID = errors.New("invalid event ID")

// ComputeID returns the ID of the signed event bytes raw.
func ComputeID(raw []byte) ID {
	sum := sha256.Sum256(raw)
	var b [idLen]byte
	b[0] = mh.SHA2_256
	b[1] = sha256.Size
	copy(b[2:], sum[:])
	return ID(b[:])
}

// String returns the text form of id ("v" + base32hex).
func (id ID) String() string {
	if id == "" {
		return ""
	}
	if len(id) != idLen {
		return "v" + idEncoding.EncodeToString([]byte(id))
	}
	// Every stored event's keys and every fed message need this text:
	// build it in one allocation, not three.
	var text [1 + (idLen*8+4)/5]byte
	text[0] = 'v'
	idEncoding.Encode(text[1:], []byte(id))
	return string(text[:])
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses the text form of an event ID.
func ParseID(s string) (ID, error) {
	if !strings.HasPrefix(s, "v") {
		return "", fmt.Errorf("%w: %q: want multibase base32hex (prefix v)", ErrBadID, s)
	}
	b, err := idEncoding.DecodeString(s[1:])
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadID, s, err)
	}
	return idFromBytes(b)
}

// idFromBytes checks that b is a sha2-256 multihash.
func idFromBytes(b []byte) (ID, error) {
	if len(b) != idLen || b[0] != mh.SHA2_256 || b[1] != sha256.Size {
		return "", fmt.Errorf("%w: not a sha2-256 multihash", ErrBadID)
	}
	return ID(b), nil
}
