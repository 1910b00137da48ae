package keyx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parley-chat/parley/chat/e2ee"
)

// Wire format (version 1). The asker sends one byte, the version; the
// server answers with one reply and closes the stream:
//
//	version 1 ‖ status ‖ uvarint n ‖ n bytes
//
// status 0 carries the server's signed bundle (1 ≤ n ≤ e2ee.MaxBundleSize),
// status 1 says it has none (n = 0). The varint is minimal and nothing may
// follow, so every reply has exactly one encoding.
const (
	wireVersion  byte = 1
	statusBundle byte = 0
	statusNone   byte = 1
)

// MaxReplySize bounds a reply's bytes: the header (version, status, a
// two-byte varint) and the largest bundle. An asker reads at most one
// byte more, so a peer cannot make it read or hold more than this.
const MaxReplySize = 4 + e2ee.MaxBundleSize

var (
	// ErrMalformed is returned when a reply or request does not decode.
	ErrMalformed = errors.New("keyx: malformed reply")
	// ErrTooLarge is returned when a reply exceeds MaxReplySize.
	ErrTooLarge = errors.New("keyx: reply too large")
	// ErrWrongPeer is returned when a peer serves a bundle that names
	// another peer.
	ErrWrongPeer = errors.New("keyx: bundle names another peer")
)

// encodeReply returns the reply carrying raw, a signed bundle, or the
// "none" reply when raw is nil.
func encodeReply(raw []byte) []byte {
	st := statusBundle
	if raw == nil {
		st = statusNone
	}
	b := []byte{wireVersion, st}
	b = binary.AppendUvarint(b, uint64(len(raw)))
	return append(b, raw...)
}

// decodeReply decodes one whole reply. It returns the bundle bytes
// (aliasing b), or nil for "none".
func decodeReply(b []byte) ([]byte, error) {
	if len(b) > MaxReplySize {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(b), MaxReplySize)
	}
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != wireVersion {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	n, k := binary.Uvarint(b[2:])
	if k <= 0 || k != uvarintLen(n) {
		return nil, fmt.Errorf("%w: bad length", ErrMalformed)
	}
	body := b[2+k:]
	if uint64(len(body)) != n {
		return nil, fmt.Errorf("%w: length %d, have %d bytes", ErrMalformed, n, len(body))
	}
	switch b[1] {
	case statusNone:
		if n != 0 {
			return nil, fmt.Errorf("%w: bytes after \"none\"", ErrMalformed)
		}
		return nil, nil
	case statusBundle:
		if n == 0 || n > e2ee.MaxBundleSize {
			return nil, fmt.Errorf("%w: bundle of %d bytes", ErrMalformed, n)
		}
		return body, nil
	}
	return nil, fmt.Errorf("%w: status %d", ErrMalformed, b[1])
}

// readReply reads one reply from r, which the server closes after it,
// reading at most MaxReplySize+1 bytes.
func readReply(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxReplySize+1))
	if err != nil {
		return nil, fmt.Errorf("keyx: read reply: %w", err)
	}
	return decodeReply(b)
}

func uvarintLen(x uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], x)
}
