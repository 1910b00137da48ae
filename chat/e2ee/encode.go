package e2ee

import (
	"encoding/binary"
	"fmt"
)

// fields is the one encoding of a domain and its fields wherever bytes
// are hashed, derived from, bound as associated data or HPKE info, or
// signed:
//
//	uvarint len(domain) ‖ domain ‖ (uvarint len(f) ‖ f) for each field
//
// Every field is length-prefixed, so no two lists of fields share an
// encoding, and the domain comes first, so no two constructions do.
func fields(domain string, fs ...[]byte) []byte {
	n := binary.MaxVarintLen64 + len(domain)
	for _, f := range fs {
		n += binary.MaxVarintLen64 + len(f)
	}
	b := make([]byte, 0, n)
	b = appendField(b, []byte(domain))
	for _, f := range fs {
		b = appendField(b, f)
	}
	return b
}

// appendField appends f with its uvarint length.
func appendField(b, f []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}

// u64 is an integer as a field: 8 bytes, big-endian.
func u64(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }

// reader decodes the wire encodings (bundle, invite, ciphertext, DM first
// message). It stops at the first problem and keeps it; every varint must
// be minimal, so each value has one encoding.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *reader) uvarint(name string) uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 || k != uvarintLen(v) {
		r.fail("bad %s", name)
		return 0
	}
	r.b = r.b[k:]
	return v
}

// field reads a length-prefixed field of min to max bytes. The result
// aliases the input.
func (r *reader) field(name string, min, max int) []byte {
	n := r.uvarint(name + " length")
	if r.err != nil {
		return nil
	}
	if n < uint64(min) || n > uint64(max) || n > uint64(len(r.b)) {
		r.fail("%s of %d bytes (want %d to %d)", name, n, min, max)
		return nil
	}
	f := r.b[:n]
	r.b = r.b[n:]
	return f
}

// fixed reads exactly n bytes.
func (r *reader) fixed(name string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("short %s", name)
		return nil
	}
	f := r.b[:n]
	r.b = r.b[n:]
	return f
}

// version reads the leading version byte and checks it.
func (r *reader) version(want byte) {
	v := r.fixed("version", 1)
	if r.err == nil && v[0] != want {
		r.fail("version %d (want %d)", v[0], want)
	}
}

// rest returns what is left.
func (r *reader) rest() []byte {
	b := r.b
	r.b = nil
	return b
}

// done reports the first problem, or trailing bytes.
func (r *reader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
