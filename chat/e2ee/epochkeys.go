package e2ee

import (
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// EpochKeys holds one epoch's chains, one per member, derived from the
// epoch secret, which it does not keep. Its Open chooses the chain from
// the author that signed the event, never from anything in the
// ciphertext, so a member cannot pass another's ciphertext off as its
// own. It is safe for concurrent use.
type EpochKeys struct {
	ep     Epoch
	mu     sync.Mutex
	chains map[peer.ID]*Chain // nil once erased
}

// NewEpochKeys derives the chain of each member of ep from secret and
// then clears secret: after it returns, the epoch secret exists nowhere
// this package put it.
func NewEpochKeys(ep Epoch, secret []byte, members []peer.ID) (*EpochKeys, error) {
	defer clear(secret)
	k := &EpochKeys{ep: ep, chains: make(map[peer.ID]*Chain, len(members))}
	for _, m := range members {
		ck, err := ChainKey(secret, ep, m)
		if err != nil {
			k.Erase()
			return nil, err
		}
		c, err := NewChain(ep, m, ck)
		clear(ck)
		if err != nil {
			k.Erase()
			return nil, err
		}
		k.chains[m] = c
	}
	return k, nil
}

// Chain returns member's chain, or nil if member is not in the epoch or
// the keys were erased.
func (k *EpochKeys) Chain(member peer.ID) *Chain {
	c, _ := k.chain(member)
	return c
}

func (k *EpochKeys) chain(member peer.ID) (*Chain, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.chains == nil {
		return nil, ErrErased
	}
	c, ok := k.chains[member]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a member of the epoch", ErrDecrypt, member)
	}
	return c, nil
}

// Seal encrypts under self's chain.
func (k *EpochKeys) Seal(self peer.ID, kind string, body []byte) ([]byte, error) {
	c, err := k.chain(self)
	if err != nil {
		return nil, err
	}
	return c.Seal(kind, body)
}

// Open decrypts raw, the body of an event signed by author, with
// author's chain.
func (k *EpochKeys) Open(author peer.ID, raw []byte) (Message, error) {
	ct, err := ParseCiphertext(raw)
	if err != nil {
		return Message{}, err
	}
	c, err := k.chain(author)
	if err != nil {
		return Message{}, err
	}
	return c.Open(ct)
}

// Erase erases every chain. It is idempotent.
func (k *EpochKeys) Erase() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range k.chains {
		c.Erase()
	}
	k.chains = nil
}
