package ledgersync

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parley-chat/parley/ledger"
)

// Frame types. Every frame is uvarint(length) | type(1) | body, where length
// counts the type byte and the body. See docs/PROTOCOL.md "## Sync".
const (
	frameHello  byte = 1 // requester's first frame: room and whole-room fingerprint
	frameRanges byte = 2 // range items: fingerprints, ID lists, send-all requests
	frameEvents byte = 3 // signed events, as stored
	frameWant   byte = 4 // event IDs the requester lacks (digests)
	frameEnd    byte = 5 // end of one side's message for this round
	frameError  byte = 6 // error code and text; the session ends
)

// Range item modes.
const (
	modeFingerprint byte = 1 // count and 16-byte fingerprint of the sender's events in the range
	modeIDList      byte = 2 // all of the sender's event keys in the range
	modeSendAll     byte = 3 // requester has nothing here: send every event in the range
)

// Error codes carried by an Error frame.
const (
	codeRoomUnknown byte = 1 // the responder has not joined the room
	codeBusy        byte = 2 // a session for this peer and room is already running, or too many sessions
	codeLimit       byte = 3 // a session limit was reached; what was sent is valid
	codeProtocol    byte = 4 // the peer broke the protocol
	codeInternal    byte = 5 // the responder failed locally
)

// Protocol limits, the same for every peer (a peer that exceeds them is
// misbehaving).
const (
	// MaxFrameSize bounds one frame (length prefix excluded).
	MaxFrameSize = 2 << 20
	// MaxIDList bounds the keys in one ID-list item.
	MaxIDList = 256
	// MaxItemsPerRound bounds the range items in one side's message of a round.
	MaxItemsPerRound = 8192
	// MaxWantPerRound bounds the IDs asked for in one round.
	MaxWantPerRound = 1 << 18
	// MaxRounds bounds the round trips of one session.
	MaxRounds = 64
	// fpLen is the size of a fingerprint on the wire.
	fpLen = 16
	// digestLen is the size of an ID on the wire (the sha2-256 digest).
	digestLen = 32
)

// ErrFrameTooLarge is returned when a peer announces a frame larger than
// MaxFrameSize; the frame is not read.
var ErrFrameTooLarge = errors.New("sync frame too large")

// errMalformed is wrapped by every frame decoding error.
var errMalformed = errors.New("malformed sync frame")

// bound is a position in the (Lamport, ID) order: every key (l, id) with
// l > Lamport, or l == Lamport and id >= Prefix (bytewise), is at or after
// it. inf is after every key.
type bound struct {
	inf     bool
	lamport uint64
	prefix  string
}

var (
	minBound = bound{}
	maxBound = bound{inf: true}
)

// cmpBound orders bounds.
func cmpBound(a, b bound) int {
	switch {
	case a.inf && b.inf:
		return 0
	case a.inf:
		return 1
	case b.inf:
		return -1
	case a.lamport != b.lamport:
		if a.lamport < b.lamport {
			return -1
		}
		return 1
	case a.prefix < b.prefix:
		return -1
	case a.prefix > b.prefix:
		return 1
	}
	return 0
}

// atOrAfter reports whether key k is at or after b.
func atOrAfter(k ledger.Key, b bound) bool {
	if b.inf {
		return false
	}
	if k.Lamport != b.lamport {
		return k.Lamport > b.lamport
	}
	return string(k.ID) >= b.prefix
}

// boundBetween returns the shortest bound that is after prev and at or
// before next (prev < next).
func boundBetween(prev, next ledger.Key) bound {
	if prev.Lamport != next.Lamport {
		return bound{lamport: next.Lamport}
	}
	n := 0
	for n < len(prev.ID) && n < len(next.ID) && prev.ID[n] == next.ID[n] {
		n++
	}
	return bound{lamport: next.Lamport, prefix: string(next.ID[:min(n+1, len(next.ID))])}
}

// fp16 is a fingerprint as sent: the count and 16 bytes, f.V2() in sync
// 2.0.0 and f.V1() in 1.0.0.
type fp16 struct {
	count uint64
	acc   [fpLen]byte
}

func toFP(f ledger.Fingerprint, v1 bool) fp16 {
	if v1 {
		return fp16{count: f.Count, acc: f.V1()}
	}
	return fp16{count: f.Count, acc: f.V2()}
}

// item is one range of a Ranges frame.
type item struct {
	lo, hi bound
	mode   byte
	fp     fp16         // modeFingerprint
	keys   []ledger.Key // modeIDList, sorted, inside [lo, hi)
}

// frame is one decoded frame.
type frame struct {
	typ    byte
	room   string      // Hello
	fp     fp16        // Hello
	items  []item      // Ranges
	events [][]byte    // Events (slices of the read buffer)
	want   []ledger.ID // Want
	code   byte        // Error
	msg    string      // Error
}

// appendBound encodes b: uvarint(0) for +inf, else uvarint(lamport+1),
// prefix length (one byte) and the prefix.
func appendBound(dst []byte, b bound) []byte {
	if b.inf {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, b.lamport+1)
	dst = append(dst, byte(len(b.prefix)))
	return append(dst, b.prefix...)
}

func appendItem(dst []byte, it *item) []byte {
	dst = appendBound(dst, it.lo)
	dst = appendBound(dst, it.hi)
	dst = append(dst, it.mode)
	switch it.mode {
	case modeFingerprint:
		dst = binary.AppendUvarint(dst, it.fp.count)
		dst = append(dst, it.fp.acc[:]...)
	case modeIDList:
		dst = binary.AppendUvarint(dst, uint64(len(it.keys)))
		prev := it.lo.lamport
		for _, k := range it.keys {
			dst = binary.AppendUvarint(dst, k.Lamport-prev)
			prev = k.Lamport
			d := k.ID.Digest()
			dst = append(dst, d[:]...)
		}
	}
	return dst
}

// itemSize is an upper bound of an item's encoding, for frame packing.
func itemSize(it *item) int {
	n := 2*(binary.MaxVarintLen64+1+34) + 1
	switch it.mode {
	case modeFingerprint:
		n += binary.MaxVarintLen64 + fpLen
	case modeIDList:
		n += binary.MaxVarintLen64 + len(it.keys)*(binary.MaxVarintLen64+digestLen)
	}
	return n
}

// appendFrame appends f with its length prefix.
func appendFrame(dst []byte, f *frame) []byte {
	body := []byte{f.typ}
	switch f.typ {
	case frameHello:
		body = binary.AppendUvarint(body, uint64(len(f.room)))
		body = append(body, f.room...)
		body = binary.AppendUvarint(body, f.fp.count)
		body = append(body, f.fp.acc[:]...)
	case frameRanges:
		body = binary.AppendUvarint(body, uint64(len(f.items)))
		for i := range f.items {
			body = appendItem(body, &f.items[i])
		}
	case frameEvents:
		body = binary.AppendUvarint(body, uint64(len(f.events)))
		for _, e := range f.events {
			body = binary.AppendUvarint(body, uint64(len(e)))
			body = append(body, e...)
		}
	case frameWant:
		body = binary.AppendUvarint(body, uint64(len(f.want)))
		for _, id := range f.want {
			d := id.Digest()
			body = append(body, d[:]...)
		}
	case frameError:
		body = append(body, f.code)
		body = binary.AppendUvarint(body, uint64(len(f.msg)))
		body = append(body, f.msg...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// reader decodes a frame body, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad %s", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("%s truncated", what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// count reads a list length and checks that the rest of the frame can hold
// that many entries of at least minSize bytes, so no list is allocated
// larger than the frame that carries it.
func (r *reader) count(what string, minSize int, max uint64) int {
	n := r.uvarint(what)
	if r.err == nil && (n > max || n > uint64(len(r.b)/minSize)) {
		r.fail("%s: %d entries", what, n)
		return 0
	}
	return int(n)
}

func (r *reader) bound() bound {
	tag := r.uvarint("bound")
	if r.err != nil || tag == 0 {
		return maxBound
	}
	pl := r.bytes(1, "bound")
	if r.err != nil {
		return bound{}
	}
	if pl[0] > 34 {
		r.fail("bound prefix of %d bytes", pl[0])
		return bound{}
	}
	return bound{lamport: tag - 1, prefix: string(r.bytes(uint64(pl[0]), "bound prefix"))}
}

func (r *reader) item() item {
	var it item
	it.lo = r.bound()
	it.hi = r.bound()
	if r.err == nil && cmpBound(it.lo, it.hi) >= 0 {
		r.fail("empty range")
	}
	m := r.bytes(1, "mode")
	if r.err != nil {
		return it
	}
	it.mode = m[0]
	switch it.mode {
	case modeFingerprint:
		it.fp.count = r.uvarint("count")
		copy(it.fp.acc[:], r.bytes(fpLen, "fingerprint"))
	case modeIDList:
		n := r.count("id list", 1+digestLen, MaxIDList)
		it.keys = make([]ledger.Key, 0, n)
		lam := it.lo.lamport
		for range n {
			d := r.uvarint("lamport")
			raw := r.bytes(digestLen, "id")
			if r.err != nil {
				return it
			}
			if lam+d < lam {
				r.fail("lamport overflow")
				return it
			}
			lam += d
			k := ledger.Key{Lamport: lam, ID: ledger.IDFromDigest([32]byte(raw))}
			if len(it.keys) > 0 && it.keys[len(it.keys)-1].Compare(k) >= 0 {
				r.fail("id list not sorted")
				return it
			}
			if !atOrAfter(k, it.lo) || atOrAfter(k, it.hi) {
				r.fail("id list entry outside its range")
				return it
			}
			it.keys = append(it.keys, k)
		}
	case modeSendAll:
	default:
		r.fail("unknown range mode %d", it.mode)
	}
	return it
}

// decodeFrame parses one frame body (without its length prefix). Event
// bytes in the result alias b; everything else is copied.
func decodeFrame(b []byte) (*frame, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", errMalformed)
	}
	f := &frame{typ: b[0]}
	r := &reader{b: b[1:]}
	switch f.typ {
	case frameHello:
		n := r.uvarint("room")
		if r.err == nil && n > ledger.MaxRoomLen {
			r.fail("room of %d bytes", n)
		}
		f.room = string(r.bytes(n, "room"))
		if r.err == nil {
			if err := ledger.ValidRoomID(f.room); err != nil {
				r.fail("%v", err)
			}
		}
		f.fp.count = r.uvarint("count")
		copy(f.fp.acc[:], r.bytes(fpLen, "fingerprint"))
	case frameRanges:
		n := r.count("ranges", 4, MaxItemsPerRound)
		f.items = make([]item, 0, n)
		for range n {
			it := r.item()
			if r.err != nil {
				break
			}
			if len(f.items) > 0 && cmpBound(f.items[len(f.items)-1].hi, it.lo) > 0 {
				r.fail("ranges overlap or are not sorted")
				break
			}
			f.items = append(f.items, it)
		}
	case frameEvents:
		n := r.count("events", 2, MaxFrameSize)
		f.events = make([][]byte, 0, n)
		for range n {
			l := r.uvarint("event length")
			if r.err == nil && (l == 0 || l > ledger.MaxEventSize) {
				r.fail("event of %d bytes", l)
			}
			e := r.bytes(l, "event")
			if r.err != nil {
				break
			}
			f.events = append(f.events, e)
		}
	case frameWant:
		n := r.count("want", digestLen, MaxWantPerRound)
		f.want = make([]ledger.ID, 0, n)
		for range n {
			d := r.bytes(digestLen, "id")
			if r.err != nil {
				break
			}
			f.want = append(f.want, ledger.IDFromDigest([32]byte(d)))
		}
	case frameEnd:
	case frameError:
		c := r.bytes(1, "code")
		if r.err == nil {
			f.code = c[0]
		}
		n := r.uvarint("message")
		if r.err == nil && n > 1024 {
			r.fail("error message of %d bytes", n)
		}
		f.msg = string(r.bytes(n, "message"))
	default:
		return nil, fmt.Errorf("%w: unknown frame type %d", errMalformed, f.typ)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

// readFrame reads one frame into buf (grown as needed, never beyond max)
// and returns its body. A length over max is refused before anything is
// allocated; so is one that reserve, if set, refuses (it is called with
// the length before the buffer is grown).
func readFrame(r *bufio.Reader, buf []byte, max int, reserve func(n int) error) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read frame length: %w", err)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, n, max)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty", errMalformed)
	}
	if reserve != nil {
		if err := reserve(int(n)); err != nil {
			return nil, err
		}
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read frame: %w", io.ErrUnexpectedEOF)
	}
	return buf, nil
}
