package e2ee

import "errors"

// Sentinel errors. Functions wrap them with %w and a detail; test with
// errors.Is.
var (
	// ErrMalformed is returned when bytes do not decode: wrong version,
	// bad framing, a field out of bounds, or a non-canonical encoding.
	ErrMalformed = errors.New("e2ee: malformed encoding")
	// ErrBadSignature is returned when a bundle, invite or DM statement is
	// not validly signed, or not signed by the peer it names.
	ErrBadSignature = errors.New("e2ee: bad signature")
	// ErrExpired is returned when a bundle or invite is used outside its
	// validity period.
	ErrExpired = errors.New("e2ee: expired")
	// ErrNoBundle is returned when no bundle is known for a peer.
	ErrNoBundle = errors.New("e2ee: no bundle known for peer")
	// ErrRollback is returned when a bundle's seq is lower than one
	// already seen for that peer, or repeats it with other contents.
	ErrRollback = errors.New("e2ee: bundle rollback")
	// ErrUnsupportedSuite is returned for a bundle of another suite.
	ErrUnsupportedSuite = errors.New("e2ee: unsupported suite")
	// ErrDecrypt is returned when a ciphertext does not authenticate under
	// the key and associated data it was opened with: tampered, opened
	// with the wrong key, or bound to other context.
	ErrDecrypt = errors.New("e2ee: cannot decrypt")
	// ErrReplay is returned when a chain index is opened a second time.
	ErrReplay = errors.New("e2ee: replayed message index")
	// ErrTooManySkipped is returned when opening an index would derive more
	// than MaxSkip keys ahead of the chain.
	ErrTooManySkipped = errors.New("e2ee: too many skipped message keys")
	// ErrKeyGone is returned for an index whose key this chain no longer
	// holds (evicted past MaxSkip, or the chain was erased).
	ErrKeyGone = errors.New("e2ee: message key no longer held")
	// ErrWrongEpoch is returned when a ciphertext names another epoch than
	// the chain it is opened with.
	ErrWrongEpoch = errors.New("e2ee: ciphertext of another epoch")
	// ErrErased is returned when an erased key pair or chain is used.
	ErrErased = errors.New("e2ee: key erased")
	// ErrInviteSecret is returned when a proof does not show an invite's
	// secret.
	ErrInviteSecret = errors.New("e2ee: invite secret does not match")
	// ErrWrongRecipient is returned when a DM first message or invite is
	// opened by a peer it does not name.
	ErrWrongRecipient = errors.New("e2ee: not the named recipient")
)
