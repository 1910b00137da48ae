package e2ee

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// Bundle limits.
const (
	// MaxBundleLifetime bounds Expires − Created: a bundle is replaced at
	// least every two weeks, which bounds how long a leaked KEM key can be
	// sealed to.
	MaxBundleLifetime = 14 * 24 * time.Hour
	// ClockSkew is how far in the future a bundle's or invite's creation
	// time may lie and still be accepted.
	ClockSkew = 5 * time.Minute
	// MaxBundleSize bounds a signed bundle's bytes; larger input is
	// refused before it is parsed.
	MaxBundleSize = 2048
	// HashSize is the size of a bundle hash.
	HashSize = sha256.Size

	bundleVersion = 1
)

// Bundle is a peer's published KEM public key: what others seal epoch
// secrets and first direct messages to. It is signed by the peer it names
// (SignBundle) as a record.Envelope under BundleDomain.
//
// Its canonical payload encoding is
//
//	version 1 ‖ field(peer ID bytes) ‖ field(suite) ‖ field(public key) ‖
//	uvarint seq ‖ uvarint created (unix ms) ‖ uvarint expires (unix ms)
//
// with fields as in encode.go and minimal varints.
type Bundle struct {
	Peer      peer.ID
	Suite     string // Suite
	PublicKey []byte // PublicKeySize bytes
	// Seq orders one peer's bundles: a newer one has a higher Seq, and a
	// lower one than already seen is a rollback (BundleBook).
	Seq uint64
	// Created and Expires bound the validity, millisecond precision,
	// Expires − Created ≤ MaxBundleLifetime.
	Created, Expires time.Time
}

var _ record.Record = (*Bundle)(nil)

// Domain implements record.Record.
func (*Bundle) Domain() string { return BundleDomain }

// Codec implements record.Record: the envelope's payload type.
func (*Bundle) Codec() []byte { return bundlePayloadType }

// MarshalRecord implements record.Record with the canonical encoding.
func (b *Bundle) MarshalRecord() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	out := []byte{bundleVersion}
	out = appendField(out, []byte(b.Peer))
	out = appendField(out, []byte(b.Suite))
	out = appendField(out, b.PublicKey)
	out = binary.AppendUvarint(out, b.Seq)
	out = binary.AppendUvarint(out, uint64(b.Created.UnixMilli()))
	return binary.AppendUvarint(out, uint64(b.Expires.UnixMilli())), nil
}

// UnmarshalRecord implements record.Record; it accepts only the canonical
// encoding of a well-formed bundle.
func (b *Bundle) UnmarshalRecord(data []byte) error {
	r := reader{b: data}
	r.version(bundleVersion)
	p := r.field("peer", 1, maxPeerIDLen)
	suite := r.field("suite", 1, 64)
	pub := r.field("public key", 1, PublicKeySize)
	seq := r.uvarint("seq")
	created := r.uvarint("created")
	expires := r.uvarint("expires")
	if err := r.done(); err != nil {
		return err
	}
	id, err := decodePeer("peer", p)
	if err != nil {
		return err
	}
	if created > 1<<62 || expires > 1<<62 {
		return fmt.Errorf("%w: time out of range", ErrMalformed)
	}
	*b = Bundle{
		Peer: id, Suite: string(suite), PublicKey: bytes.Clone(pub), Seq: seq,
		Created: time.UnixMilli(int64(created)).UTC(), Expires: time.UnixMilli(int64(expires)).UTC(),
	}
	return b.check()
}

// check validates a bundle's fields, everything but the signature and the
// time now.
func (b *Bundle) check() error {
	if err := checkPeer("peer", b.Peer); err != nil {
		return err
	}
	if b.Suite != Suite {
		return fmt.Errorf("%w: %q", ErrUnsupportedSuite, b.Suite)
	}
	if len(b.PublicKey) != PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrMalformed, len(b.PublicKey))
	}
	if _, err := kem().NewPublicKey(b.PublicKey); err != nil {
		return fmt.Errorf("%w: public key: %v", ErrMalformed, err)
	}
	if b.Created.UnixMilli() <= 0 || !b.Expires.After(b.Created) {
		return fmt.Errorf("%w: validity %v to %v", ErrMalformed, b.Created, b.Expires)
	}
	if b.Expires.Sub(b.Created) > MaxBundleLifetime {
		return fmt.Errorf("%w: lifetime %v exceeds %v", ErrMalformed, b.Expires.Sub(b.Created), MaxBundleLifetime)
	}
	return nil
}

// SignedBundle is a bundle with the envelope bytes that carry it and its
// hash. Its fields are read-only.
type SignedBundle struct {
	Bundle
	raw  []byte
	hash [HashSize]byte
}

// SignBundle signs b with key, which must be the Ed25519 identity of
// b.Peer. An empty Suite means Suite; times are kept to the millisecond.
func SignBundle(key crypto.PrivKey, b Bundle) (*SignedBundle, error) {
	if b.Suite == "" {
		b.Suite = Suite
	}
	b.Created = time.UnixMilli(b.Created.UnixMilli()).UTC()
	b.Expires = time.UnixMilli(b.Expires.UnixMilli()).UTC()
	if err := checkSigner(key, b.Peer); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	env, err := record.Seal(&b, key)
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	raw, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	return ParseBundle(raw)
}

// ParseBundle decodes signed bundle bytes and checks the signature, that
// the signer is the peer the bundle names, the canonical encoding and the
// fields. It does not check the time: call Verify.
func ParseBundle(raw []byte) (*SignedBundle, error) {
	if len(raw) > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle of %d bytes exceeds %d", ErrMalformed, len(raw), MaxBundleSize)
	}
	var b Bundle
	if err := consume(raw, &b, b.Codec(), func() peer.ID { return b.Peer }); err != nil {
		return nil, err
	}
	s := &SignedBundle{Bundle: b, raw: bytes.Clone(raw)}
	s.hash = sha256.Sum256(fields(domainBundleHash, raw))
	return s, nil
}

// Verify checks that the bundle is valid at now: created no later than
// now + ClockSkew and not yet expired. A SignedBundle built by hand, not
// by SignBundle or ParseBundle, never verifies.
func (s *SignedBundle) Verify(now time.Time) error {
	if s.raw == nil {
		return fmt.Errorf("%w: bundle not from SignBundle or ParseBundle", ErrBadSignature)
	}
	if s.Created.After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: bundle created in the future (%v)", ErrExpired, s.Created)
	}
	if !now.Before(s.Expires) {
		return fmt.Errorf("%w: bundle of %s expired at %v", ErrExpired, s.Peer, s.Expires)
	}
	return nil
}

// Raw returns the signed envelope bytes (do not modify).
func (s *SignedBundle) Raw() []byte { return s.raw }

// Hash names this signed bundle: SHA-256 over the domain
// "parley/v1/bundle-hash" and the envelope bytes. Seals and DM first
// messages bind to it, so they cannot be moved to another bundle.
func (s *SignedBundle) Hash() [HashSize]byte { return s.hash }

// consume opens a record.Envelope of rec's domain and payload type,
// insisting on Ed25519, on the canonical envelope framing (one signed
// record, one byte string, one hash) and on the signer being the peer
// that signer names once rec is decoded.
func consume(raw []byte, rec record.Record, payloadType []byte, signer func() peer.ID) error {
	// Refuse other key types before verifying: an RSA signature costs a
	// verifier far more than an Ed25519 one.
	if env, err := record.UnmarshalEnvelope(raw); err != nil {
		return fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	} else if env.PublicKey.Type() != cryptopb.KeyType_Ed25519 {
		return fmt.Errorf("%w: signer key must be Ed25519", ErrBadSignature)
	}
	env, err := record.ConsumeTypedEnvelope(raw, rec)
	if err != nil {
		if env != nil && bytes.Equal(env.PayloadType, payloadType) {
			// The envelope parsed; either the signature or the payload
			// is bad. Keep the payload's own error when it is ours.
			if perr := rec.UnmarshalRecord(env.RawPayload); perr != nil {
				return perr
			}
		}
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !bytes.Equal(env.PayloadType, payloadType) {
		return fmt.Errorf("%w: payload type %q", ErrMalformed, env.PayloadType)
	}
	again, err := env.Marshal()
	if err != nil || !bytes.Equal(again, raw) {
		return fmt.Errorf("%w: non-canonical envelope", ErrMalformed)
	}
	id, err := peer.IDFromPublicKey(env.PublicKey)
	if want := signer(); err != nil || id != want {
		return fmt.Errorf("%w: signed by %s, not by %s", ErrBadSignature, id, want)
	}
	return nil
}

func checkSigner(key crypto.PrivKey, want peer.ID) error {
	if key == nil || key.Type() != cryptopb.KeyType_Ed25519 {
		return fmt.Errorf("%w: signing key must be Ed25519", ErrBadSignature)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil || id != want {
		return fmt.Errorf("%w: key of %s cannot sign for %s", ErrBadSignature, id, want)
	}
	return nil
}
