package e2ee

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

const chainStateVersion = 1

// MaxChainStateSize bounds a chain's marshalled state.
const MaxChainStateSize = 1 + SecretSize + 3*binary.MaxVarintLen64 + MaxSkip*(binary.MaxVarintLen64+SecretSize)

// MarshalState returns the chain's secret state, for its owner to keep
// across restarts (under the local data key): a sending chain's state
// must be durable before a ciphertext sealed with it is published, so
// that a crash never reuses an index. The encoding is
//
//	version 1 ‖ chain key ‖ uvarint next ‖ uvarint floor ‖ uvarint n ‖
//	n × (uvarint index ‖ message key)
//
// with the skipped indices ascending. The caller clears the result after
// storing it.
func (c *Chain) MarshalState() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ck == nil {
		return nil, ErrErased
	}
	idx := make([]uint64, 0, len(c.skipped))
	for i := range c.skipped {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	b := make([]byte, 0, 1+SecretSize+3*binary.MaxVarintLen64+len(idx)*(binary.MaxVarintLen64+SecretSize))
	b = append(b, chainStateVersion)
	b = append(b, c.ck...)
	b = binary.AppendUvarint(b, c.next)
	b = binary.AppendUvarint(b, c.floor)
	b = binary.AppendUvarint(b, uint64(len(idx)))
	for _, i := range idx {
		b = binary.AppendUvarint(b, i)
		b = append(b, c.skipped[i]...)
	}
	return b, nil
}

// RestoreChain rebuilds the chain of ep and author from MarshalState's
// bytes; only a well-formed, canonical state is accepted. state is not
// retained; the caller clears it.
func RestoreChain(ep Epoch, author peer.ID, state []byte) (*Chain, error) {
	if len(state) > MaxChainStateSize {
		return nil, fmt.Errorf("%w: chain state of %d bytes", ErrMalformed, len(state))
	}
	r := reader{b: state}
	r.version(chainStateVersion)
	ck := r.fixed("chain key", SecretSize)
	next := r.uvarint("next index")
	floor := r.uvarint("floor")
	n := r.uvarint("skipped count")
	if r.err == nil && (n > MaxSkip || next > MaxIndex+1 || floor > next) {
		r.fail("chain state out of range")
	}
	c, err := NewChain(ep, author, make([]byte, SecretSize))
	if err != nil {
		return nil, err
	}
	prev := -1
	for range n {
		i := r.uvarint("skipped index")
		k := r.fixed("skipped key", SecretSize)
		if r.err != nil {
			break
		}
		if int64(i) <= int64(prev) || i < floor || i >= next {
			r.fail("skipped index %d out of order or range", i)
			break
		}
		prev = int(i)
		c.skipped[i] = bytes.Clone(k)
		c.order = append(c.order, i)
	}
	if err := r.done(); err != nil {
		c.Erase()
		return nil, err
	}
	copy(c.ck, ck)
	c.next, c.floor = next, floor
	return c, nil
}
