package e2ee

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Chain bounds.
const (
	// MaxSkip is the most message keys a chain derives ahead of its next
	// index for one message, and the most skipped keys it keeps.
	MaxSkip = 2000
	// MaxIndex is the last index of a chain; the epoch must end before.
	MaxIndex = 1<<32 - 1
)

// ChainKey derives member's first chain key (index 0) of an epoch:
//
//	HKDF-SHA256(ikm = epoch secret, salt = none,
//	            info = fields("parley/v1/chain", room, epoch ID, member))
func ChainKey(epochSecret []byte, ep Epoch, member peer.ID) ([]byte, error) {
	if len(epochSecret) != SecretSize {
		return nil, fmt.Errorf("%w: epoch secret of %d bytes", ErrMalformed, len(epochSecret))
	}
	if err := ep.check(); err != nil {
		return nil, err
	}
	if err := checkPeer("member", member); err != nil {
		return nil, err
	}
	info := fields(domainChain, []byte(ep.Room), ep.ID, []byte(member))
	return hkdf.Key(sha256.New, epochSecret, nil, string(info), SecretSize)
}

// The infos of the two chain steps, encoded once.
var (
	infoMessageKey = string(fields(domainMessageKey))
	infoChainNext  = string(fields(domainChainNext))
)

// step derives, from chain key i, message key i and chain key i+1 (the
// symmetric KDF chain): HKDF-Expand with the chain key as PRK and
// "parley/v1/msg-key" or "parley/v1/chain-next" as info.
func step(ck []byte) (mk, next []byte) { return messageKey(ck), nextChainKey(ck) }

func messageKey(ck []byte) []byte { return expand(ck, infoMessageKey) }

func nextChainKey(ck []byte) []byte { return expand(ck, infoChainNext) }

func expand(ck []byte, info string) []byte {
	k, err := hkdf.Expand(sha256.New, ck, info, SecretSize)
	if err != nil {
		panic(err) // unreachable: 32 bytes of SHA-256 output are always available
	}
	return k
}

// Chain is one member's sending chain in one epoch. The member Seals with
// it; everyone else Opens with their own copy, which derives keys forward
// as indices arrive, keeps at most MaxSkip keys of indices not seen yet,
// and erases each key once it has opened its message. It is safe for
// concurrent use.
//
// Seal advances the chain in memory only: whoever publishes must persist
// the next index (Next) before the ciphertext leaves the node, so that a
// crash never reuses an index.
type Chain struct {
	ep     Epoch
	author peer.ID

	mu      sync.Mutex
	ck      []byte // chain key of index next; nil once erased
	next    uint64
	skipped map[uint64][]byte // message keys of indices < next not yet opened
	order   []uint64          // skipped indices, ascending (may hold opened ones)
	// floor: keys of skipped indices below it were evicted. An index
	// in [floor, next) with no key was opened before: a replay.
	floor uint64
}

// NewChain starts a chain at index 0 from a chain key (ChainKey's), which
// it copies; the caller should clear its own.
func NewChain(ep Epoch, author peer.ID, chainKey []byte) (*Chain, error) {
	if len(chainKey) != SecretSize {
		return nil, fmt.Errorf("%w: chain key of %d bytes", ErrMalformed, len(chainKey))
	}
	if err := ep.check(); err != nil {
		return nil, err
	}
	if err := checkPeer("author", author); err != nil {
		return nil, err
	}
	ep.ID = bytes.Clone(ep.ID)
	return &Chain{ep: ep, author: author, ck: bytes.Clone(chainKey), skipped: make(map[uint64][]byte)}, nil
}

// Next returns the index the next Seal uses (and the lowest index Open
// has not derived yet).
func (c *Chain) Next() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next
}

// Seal encrypts (kind, body) under the next index, advances the chain and
// erases the used keys; it returns the encoded ciphertext.
func (c *Chain) Seal(kind string, body []byte) ([]byte, error) {
	var nonce [NonceSize]byte
	rand.Read(nonce[:])
	return c.seal(kind, body, nonce[:])
}

func (c *Chain) seal(kind string, body, nonce []byte) ([]byte, error) {
	padded, err := pad(kind, body)
	if err != nil {
		return nil, err
	}
	defer clear(padded)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ck == nil {
		return nil, ErrErased
	}
	if c.next > MaxIndex {
		return nil, fmt.Errorf("%w: chain exhausted", ErrKeyGone)
	}
	mk, next := step(c.ck)
	defer clear(mk)
	ct, err := encryptMessage(mk, nonce, c.ep, c.author, c.next, padded)
	if err != nil {
		clear(next)
		return nil, err
	}
	clear(c.ck)
	c.ck, c.next = next, c.next+1
	return ct, nil
}

// Open decrypts ct, which the caller has taken from an event signed by
// this chain's author. It returns ErrWrongEpoch for another epoch,
// ErrReplay for an index opened before, ErrTooManySkipped for an index
// more than MaxSkip past Next, ErrKeyGone for a key evicted or erased,
// and ErrDecrypt when the ciphertext does not authenticate. A ciphertext
// that fails changes nothing: it neither advances the chain nor spends a
// key.
func (c *Chain) Open(ct *Ciphertext) (Message, error) {
	if !bytes.Equal(ct.Epoch, c.ep.ID) {
		return Message{}, ErrWrongEpoch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ck == nil {
		return Message{}, ErrErased
	}
	i := ct.Index
	if i > MaxIndex {
		return Message{}, fmt.Errorf("%w: index %d beyond the chain", ErrMalformed, i)
	}
	if i < c.next {
		mk, ok := c.skipped[i]
		switch {
		case ok:
		case i < c.floor:
			return Message{}, fmt.Errorf("%w: index %d of %s", ErrKeyGone, i, c.author)
		default:
			return Message{}, fmt.Errorf("%w: index %d of %s", ErrReplay, i, c.author)
		}
		kind, body, err := decryptMessage(mk, c.ep, c.author, ct)
		if err != nil {
			return Message{}, err
		}
		clear(mk)
		delete(c.skipped, i)
		return Message{Index: i, Kind: kind, Body: body}, nil
	}
	if i-c.next > MaxSkip {
		return Message{}, fmt.Errorf("%w: index %d, next %d", ErrTooManySkipped, i, c.next)
	}
	// Walk the chain keys up to i on the side and commit only if the
	// message opens; the skipped indices' message keys are derived only
	// then, so a forged far index costs one HKDF per step, not two.
	cks := make([][]byte, 0, i-c.next)
	ck := bytes.Clone(c.ck)
	for range i - c.next {
		cks = append(cks, ck)
		ck = nextChainKey(ck)
	}
	mk, next := step(ck)
	clear(ck)
	defer clear(mk)
	kind, body, err := decryptMessage(mk, c.ep, c.author, ct)
	if err != nil {
		clear(next)
		for _, k := range cks {
			clear(k)
		}
		return Message{}, err
	}
	for k, ck := range cks {
		idx := c.next + uint64(k)
		c.skipped[idx] = messageKey(ck)
		clear(ck)
		c.order = append(c.order, idx)
	}
	clear(c.ck)
	c.ck, c.next = next, i+1
	c.evict()
	return Message{Index: i, Kind: kind, Body: body}, nil
}

// evict drops the oldest skipped keys beyond MaxSkip, and forgets order
// entries of keys already opened.
func (c *Chain) evict() {
	drop := 0
	for len(c.skipped) > MaxSkip && drop < len(c.order) {
		idx := c.order[drop]
		if k, ok := c.skipped[idx]; ok {
			clear(k)
			delete(c.skipped, idx)
			c.floor = idx + 1
		}
		drop++
	}
	for drop < len(c.order) {
		if _, ok := c.skipped[c.order[drop]]; ok {
			break
		}
		drop++
	}
	c.order = append(c.order[:0], c.order[drop:]...)
	// Opened keys behind a live one stay in order; compact once they
	// outnumber the live ones, so order stays within 2 × MaxSkip.
	if len(c.order) > 2*MaxSkip {
		c.order = slices.DeleteFunc(c.order, func(i uint64) bool {
			_, ok := c.skipped[i]
			return !ok
		})
	}
}

// Skipped returns how many skipped keys the chain holds.
func (c *Chain) Skipped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.skipped)
}

// Erase zeroes the chain key and every skipped key; the chain opens and
// seals nothing afterwards. It is idempotent.
func (c *Chain) Erase() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.ck)
	c.ck = nil
	for i, k := range c.skipped {
		clear(k)
		delete(c.skipped, i)
	}
	c.order = nil
}
