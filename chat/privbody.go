package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// Kinds of the events only private rooms have (docs/PROTOCOL.md "Private
// rooms"). Membership itself is moderation's: admit adds a member, ban
// removes one.
const (
	// KindEpoch starts a key epoch: it names its predecessor and the
	// members the room's causal past makes (epochBody).
	KindEpoch = "epoch"
	// KindEpochKeys carries the epoch secret sealed to members' key
	// bundles, a chunk of at most maxSealsPerChunk members per event.
	KindEpochKeys = "epoch_keys"
	// KindEnc is every other event of a private room: an e2ee ciphertext
	// whose inner kind ("msg", "name") is encrypted with the body.
	KindEnc = "enc"
)

// Inner kinds of enc events.
const (
	innerMsg  = "msg"
	innerName = "name"
)

// nonceSize is the size of a private genesis nonce.
const nonceSize = 16

// maxSealsPerChunk bounds the seals of one epoch_keys event: each is
// ~1.7 KB of JSON, so 24 stay well inside ledger.MaxBodySize (48 KiB).
const maxSealsPerChunk = 24

// maxEpochBody bounds an epoch body: a few thousand members' IDs.
const maxEpochBody = ledger.MaxBodySize

func isPrivateKind(k string) bool {
	return k == KindEpoch || k == KindEpochKeys || k == KindEnc || k == KindInvite || k == KindInviteUse ||
		k == KindInviteRevoke
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// epochBody is the body of an epoch event.
type epochBody struct {
	// Prev is the epoch this one follows ("" for the room's first): the
	// winning epoch of the event's causal past.
	Prev ledger.ID `json:"prev,omitempty"`
	// Members are the room's members in the event's causal past, sorted:
	// those the epoch secret is sealed to.
	Members []peer.ID `json:"members"`
}

// sealEntry is one member's sealed epoch secret: Sealed, or, for the
// recipient of a direct conversation's first epoch, DMInit (an encoded
// e2ee.DMInit, whose statement binds sender, recipient, bundle, room and
// epoch).
type sealEntry struct {
	Peer   peer.ID `json:"peer"`
	Bundle []byte  `json:"bundle"` // hash of the bundle sealed to
	Sealed []byte  `json:"sealed,omitempty"`
	DMInit []byte  `json:"dm_init,omitempty"`
}

// epochKeysBody is the body of an epoch_keys event.
type epochKeysBody struct {
	Epoch ledger.ID   `json:"epoch"`
	Seals []sealEntry `json:"seals"`
}

func decodeStrict(b []byte, max int, v any) error {
	if len(b) > max {
		return fmt.Errorf("%d bytes", len(b))
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// decodeEpoch parses an epoch body: sorted, distinct, valid members.
func decodeEpoch(b []byte) (*epochBody, error) {
	var e epochBody
	if err := decodeStrict(b, maxEpochBody, &e); err != nil {
		return nil, fmt.Errorf("%w: epoch: %v", ErrBadModeration, err)
	}
	if len(e.Members) == 0 || !slices.IsSorted(e.Members) || len(slices.Compact(slices.Clone(e.Members))) != len(e.Members) {
		return nil, fmt.Errorf("%w: epoch members must be sorted and distinct", ErrBadModeration)
	}
	return &e, nil
}

// decodeEpochKeys parses an epoch_keys body: distinct members, sizes
// fixed by the suite.
func decodeEpochKeys(b []byte) (*epochKeysBody, error) {
	var k epochKeysBody
	if err := decodeStrict(b, ledger.MaxBodySize, &k); err != nil {
		return nil, fmt.Errorf("%w: epoch_keys: %v", ErrBadModeration, err)
	}
	if len(k.Seals) == 0 || len(k.Seals) > maxSealsPerChunk {
		return nil, fmt.Errorf("%w: epoch_keys holds %d seals", ErrBadModeration, len(k.Seals))
	}
	seen := map[peer.ID]bool{}
	for _, e := range k.Seals {
		sealed := len(e.Sealed) == e2ee.SealedSecretSize && e.DMInit == nil
		dmInit := e.Sealed == nil && len(e.DMInit) > 0 && len(e.DMInit) <= e2ee.MaxDMInitSize
		if seen[e.Peer] || len(e.Bundle) != e2ee.HashSize || !sealed && !dmInit {
			return nil, fmt.Errorf("%w: epoch_keys entry for %s", ErrBadModeration, e.Peer)
		}
		seen[e.Peer] = true
	}
	return &k, nil
}
