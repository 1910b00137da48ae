package keyx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire format (version 1). The asker sends one byte, the version; the
// server answers with one reply and closes the stream:
//
//	version 1 ‖ status ‖ uvarint n ‖ n bytes
//
// status 0 carries the server's signed bundle (1 ≤ n ≤ Config.MaxSize:
// 2,048 as node runs it, chat/e2ee.MaxBundleSize), status 1 says it has
// none (n = 0). The varint is minimal and nothing may follow, so every
// reply has exactly one encoding. keyx does not look inside the n bytes.
const (
	wireVersion  byte = 1
	statusBundle byte = 0
	statusNone   byte = 1
)

// ReplySize is the largest reply carrying at most maxSize bytes: the
// header (version, status, the varint of maxSize) and the bundle; 2,052
// for node's 2,048. An asker reads at most one byte more, so a peer
// cannot make it read or hold more than this.
func ReplySize(maxSize int) int { return 2 + uvarintLen(uint64(maxSize)) + maxSize }

var (
	// ErrMalformed is returned when a reply or request does not decode.
	ErrMalformed = errors.New("keyx: malformed reply")
	// ErrTooLarge is returned when a reply exceeds ReplySize(MaxSize).
	ErrTooLarge = errors.New("keyx: reply too large")
	// ErrNoBundle is returned by Fetch when the peer says it has none.
	ErrNoBundle = errors.New("keyx: peer serves no bundle")
	// ErrWrongPeer is for Config.Verify to return, wrapped, when a peer
	// serves a bundle of another peer: keyx cannot tell, the caller's
	// decoding can.
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

// decodeReply decodes one whole reply carrying at most maxSize bytes. It
// returns the bundle bytes (aliasing b), or nil for "none".
func decodeReply(b []byte, maxSize int) ([]byte, error) {
	if limit := ReplySize(maxSize); len(b) > limit {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(b), limit)
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
		if n == 0 || n > uint64(maxSize) {
			return nil, fmt.Errorf("%w: bundle of %d bytes", ErrMalformed, n)
		}
		return body, nil
	}
	return nil, fmt.Errorf("%w: status %d", ErrMalformed, b[1])
}

// readReply reads one reply carrying at most maxSize bytes from r, which
// the server closes after it, reading at most ReplySize(maxSize)+1 bytes.
func readReply(r io.Reader, maxSize int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(ReplySize(maxSize))+1))
	if err != nil {
		return nil, fmt.Errorf("keyx: read reply: %w", err)
	}
	return decodeReply(b, maxSize)
}

func uvarintLen(x uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], x)
}
