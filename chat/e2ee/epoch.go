package e2ee

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Bounds on the names this package binds.
const (
	// MaxRoomLen bounds a room ID (the ledger's bound).
	MaxRoomLen = 64
	// MaxEpochIDLen bounds an epoch's ID: the ID of the ledger event that
	// started it (34 bytes, a sha2-256 multihash, for ledger events).
	MaxEpochIDLen = 64
	// maxPeerIDLen bounds a peer ID's bytes (an Ed25519 identity is 38).
	maxPeerIDLen = 64
)

// Epoch names one key epoch of one room: the room's ID and the ID of the
// event that started the epoch. Every sealed secret, chain and ciphertext
// is bound to one.
type Epoch struct {
	Room string
	ID   []byte
}

func (e Epoch) check() error {
	if len(e.Room) == 0 || len(e.Room) > MaxRoomLen {
		return fmt.Errorf("%w: room of %d bytes", ErrMalformed, len(e.Room))
	}
	if len(e.ID) == 0 || len(e.ID) > MaxEpochIDLen {
		return fmt.Errorf("%w: epoch ID of %d bytes", ErrMalformed, len(e.ID))
	}
	return nil
}

func checkPeer(name string, p peer.ID) error {
	if len(p) == 0 || len(p) > maxPeerIDLen {
		return fmt.Errorf("%w: %s of %d bytes", ErrMalformed, name, len(p))
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return nil
}

// decodePeer parses a peer ID field and insists it is an identity we can
// check signatures against.
func decodePeer(name string, b []byte) (peer.ID, error) {
	p, err := peer.IDFromBytes(b)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return p, nil
}
