package e2ee

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	dmInitVersion = 1
	// MaxDMInitSize bounds an encoded DM first message header.
	MaxDMInitSize = 1 + 2*(1+maxPeerIDLen) + 1 + HashSize + 1 + MaxRoomLen + 1 + MaxEpochIDLen + 1 + 64 + 2 + SealedSecretSize
)

// DMInitStatement is the binding of a direct conversation's first
// message:
//
//	fields("parley/v1/dm-init", sender, recipient, recipient's bundle hash, room, epoch ID)
//
// The sender signs it, and it is the HPKE info the epoch secret is sealed
// under, so the first message opens only for that recipient and bundle,
// in that room and epoch: it cannot be re-sealed or forwarded to a third
// party, and no field can change without both checks failing.
func DMInitStatement(sender, recipient peer.ID, bundleHash [HashSize]byte, ep Epoch) []byte {
	return fields(domainDMInit, []byte(sender), []byte(recipient), bundleHash[:], []byte(ep.Room), ep.ID)
}

// DMInit is the key part of a direct conversation's first message: the
// epoch secret sealed to the recipient's bundle and the sender's
// signature over the statement. Encoded:
//
//	version 1 ‖ field(sender) ‖ field(recipient) ‖ field(bundle hash) ‖
//	field(room) ‖ field(epoch ID) ‖ field(signature) ‖ field(sealed)
type DMInit struct {
	Sender, Recipient peer.ID
	BundleHash        [HashSize]byte
	Epoch             Epoch
	Signature         []byte // Ed25519 over DMInitStatement
	Sealed            []byte // SealedSecretSize bytes
}

// SealDMInit starts a direct conversation: key is the sender's identity,
// to the recipient's bundle (valid at now), secret the conversation's
// first epoch secret.
func SealDMInit(key crypto.PrivKey, to *SignedBundle, ep Epoch, secret []byte, now time.Time) (*DMInit, error) {
	sender, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: sender key: %v", ErrBadSignature, err)
	}
	if err := checkSigner(key, sender); err != nil {
		return nil, err
	}
	if err := ep.check(); err != nil {
		return nil, err
	}
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("%w: epoch secret of %d bytes", ErrMalformed, len(secret))
	}
	if err := to.Verify(now); err != nil {
		return nil, err
	}
	d := &DMInit{Sender: sender, Recipient: to.Peer, BundleHash: to.Hash(),
		Epoch: Epoch{Room: ep.Room, ID: bytes.Clone(ep.ID)}}
	st := d.statement()
	if d.Signature, err = key.Sign(st); err != nil {
		return nil, fmt.Errorf("sign dm-init: %w", err)
	}
	if d.Sealed, err = sealTo(to.PublicKey, st, secret); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *DMInit) statement() []byte {
	return DMInitStatement(d.Sender, d.Recipient, d.BundleHash, d.Epoch)
}

// OpenDMInit is the recipient's side: kp and own are its key pair and
// the bundle d claims to be sealed to. It checks that d names this
// recipient and bundle (ErrWrongRecipient), that the sender signed the
// statement (ErrBadSignature), and opens the secret with the statement
// as HPKE info (ErrDecrypt). Accepting each (room, epoch) once, and never
// an older one, is the caller's.
func OpenDMInit(kp *KeyPair, own *SignedBundle, d *DMInit) ([]byte, error) {
	if d.Recipient != own.Peer || d.BundleHash != own.Hash() || !bytes.Equal(kp.pub, own.PublicKey) {
		return nil, fmt.Errorf("%w: first message for %s", ErrWrongRecipient, d.Recipient)
	}
	pub, err := d.Sender.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: sender %s: %v", ErrBadSignature, d.Sender, err)
	}
	if err := d.verifyWith(pub); err != nil {
		return nil, err
	}
	return kp.open(d.statement(), d.Sealed)
}

// VerifySignature checks only that the sender signed the statement
// (ErrBadSignature): what anyone holding d can check, without the
// recipient's key.
func (d *DMInit) VerifySignature() error {
	pub, err := d.Sender.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: sender %s: %v", ErrBadSignature, d.Sender, err)
	}
	return d.verifyWith(pub)
}

func (d *DMInit) verifyWith(pub crypto.PubKey) error {
	if ok, err := pub.Verify(d.statement(), d.Signature); err != nil || !ok {
		return fmt.Errorf("%w: dm-init from %s", ErrBadSignature, d.Sender)
	}
	return nil
}

// Encode returns the canonical encoding.
func (d *DMInit) Encode() []byte {
	b := []byte{dmInitVersion}
	for _, f := range [][]byte{[]byte(d.Sender), []byte(d.Recipient), d.BundleHash[:],
		[]byte(d.Epoch.Room), d.Epoch.ID, d.Signature, d.Sealed} {
		b = appendField(b, f)
	}
	return b
}

// ParseDMInit decodes an encoded DMInit (bounded, canonical only). It
// checks no signature: OpenDMInit does.
func ParseDMInit(raw []byte) (*DMInit, error) {
	if len(raw) > MaxDMInitSize {
		return nil, fmt.Errorf("%w: dm-init of %d bytes", ErrMalformed, len(raw))
	}
	r := reader{b: raw}
	r.version(dmInitVersion)
	sender := r.field("sender", 1, maxPeerIDLen)
	recipient := r.field("recipient", 1, maxPeerIDLen)
	hash := r.field("bundle hash", HashSize, HashSize)
	room := r.field("room", 1, MaxRoomLen)
	epoch := r.field("epoch ID", 1, MaxEpochIDLen)
	sig := r.field("signature", 64, 64)
	sealed := r.field("sealed", SealedSecretSize, SealedSecretSize)
	if err := r.done(); err != nil {
		return nil, err
	}
	d := &DMInit{Epoch: Epoch{Room: string(room), ID: bytes.Clone(epoch)},
		Signature: bytes.Clone(sig), Sealed: bytes.Clone(sealed)}
	var err error
	if d.Sender, err = decodePeer("sender", sender); err != nil {
		return nil, err
	}
	if d.Recipient, err = decodePeer("recipient", recipient); err != nil {
		return nil, err
	}
	copy(d.BundleHash[:], hash)
	return d, nil
}

// DMInboxKey names the inbox of first messages sealed to the bundle with
// hash bundleHash of recipient:
//
//	SHA-256(fields("parley/v1/dm-inbox", recipient, bundle hash))
//
// Nodes holding such messages advertise it (a DHT rendezvous) and the
// recipient looks it up. Anyone who knows the public bundle can compute
// it: it hides the recipient from those who do not, not from those who do.
func DMInboxKey(recipient peer.ID, bundleHash [HashSize]byte) [sha256.Size]byte {
	return sha256.Sum256(fields(domainDMInbox, []byte(recipient), bundleHash[:]))
}
