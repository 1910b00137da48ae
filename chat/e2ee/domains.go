package e2ee

// Every key this package derives and every statement it signs or binds
// has its own domain string, and they are all here, so that no two
// constructions can ever be fed each other's bytes. A domain is always the
// first field of the bytes it separates (see fields in encode.go), except
// the two envelope domains, which core/record puts in front of the signed
// payload itself.
const (
	// BundleDomain is the record.Envelope signature domain of key bundles
	// (named by the issue, like the ledger's "parley-event").
	BundleDomain = "parley-keybundle"
	// InviteDomain is the record.Envelope signature domain of invite
	// capabilities.
	InviteDomain = "parley/v1/invite"

	// domainBundleHash separates the hash that names a signed bundle.
	domainBundleHash = "parley/v1/bundle-hash"
	// domainEpochSeal is the HPKE info of an epoch secret sealed to a
	// member's bundle.
	domainEpochSeal = "parley/v1/epoch-seal"
	// domainChain derives a member's first chain key from the epoch secret.
	domainChain = "parley/v1/chain"
	// domainChainNext steps a chain key to the next one.
	domainChainNext = "parley/v1/chain-next"
	// domainMessageKey derives a message key from a chain key.
	domainMessageKey = "parley/v1/msg-key"
	// domainMessage is the first field of a message's AEAD associated data.
	domainMessage = "parley/v1/msg"
	// domainInviteSecret separates the hash of an invite's secret that the
	// room's invite event carries.
	domainInviteSecret = "parley/v1/invite-secret"
	// domainInviteProof is the HPKE info of an invite secret sealed to an
	// admin as proof of possession.
	domainInviteProof = "parley/v1/invite-proof"
	// domainDMInit is both the signed statement and the HPKE info of a
	// direct conversation's first message.
	domainDMInit = "parley/v1/dm-init"
	// domainDMInbox names the inbox where first messages to one bundle
	// of a recipient wait while it is offline.
	domainDMInbox = "parley/v1/dm-inbox"
	// domainTopic derives a private room's gossip topic name for an epoch
	// from its secret.
	domainTopic = "parley/v1/topic"
	// domainRendezvous derives the DHT rendezvous string of an epoch from
	// its secret.
	domainRendezvous = "parley/v1/rendezvous"
)

// payload types (envelope codecs) of the two signed records.
var (
	bundlePayloadType = []byte("/parley/keybundle/1")
	invitePayloadType = []byte("/parley/invite/1")
)
