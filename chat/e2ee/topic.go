package e2ee

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// What outsiders see of a private room on the network: gossipsub
// announces every topic a node subscribes to to all its connected peers,
// and a DHT provider record names the string its members meet under. So
// neither may name the room: both derive from the epoch secret, which
// only the epoch's members hold, and change with every epoch.

// TopicPrefix starts every private room's gossip topic name; the rest is
// the lower-case, unpadded base32 of TopicHashSize derived bytes.
const TopicPrefix = "/parley/p/"

// TopicHashSize is how many derived bytes name a private topic (160
// bits, like a room ID: no collision among any number of rooms anyone
// will make).
const TopicHashSize = 20

var topicEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// EpochTopic is where one key epoch of a private room meets: its gossip
// topic name and its DHT rendezvous string. Neither says anything of the
// room or of any other epoch to whoever lacks the epoch secret.
type EpochTopic struct {
	Topic      string
	Rendezvous string
}

// DeriveTopic derives an epoch's gossip topic and rendezvous from its
// secret:
//
//	topic      = "/parley/p/" ‖ base32(HKDF-SHA256(ikm = epoch secret, salt = none,
//	                 info = fields("parley/v1/topic", room, epoch ID))[:20])
//	rendezvous = hex(HKDF-SHA256(ikm = epoch secret, salt = none,
//	                 info = fields("parley/v1/rendezvous", room, epoch ID)))
//
// (base32 lower case, unpadded; 32 bytes of rendezvous). Members derive
// it when they open the epoch secret and keep it with the epoch's chains,
// since the secret itself is erased.
func DeriveTopic(epochSecret []byte, ep Epoch) (EpochTopic, error) {
	if len(epochSecret) != SecretSize {
		return EpochTopic{}, fmt.Errorf("%w: epoch secret of %d bytes", ErrMalformed, len(epochSecret))
	}
	if err := ep.check(); err != nil {
		return EpochTopic{}, err
	}
	t, err := hkdf.Key(sha256.New, epochSecret, nil, string(topicInfo(ep)), TopicHashSize)
	if err != nil {
		return EpochTopic{}, err
	}
	rv, err := hkdf.Key(sha256.New, epochSecret, nil, string(rendezvousInfo(ep)), SecretSize)
	if err != nil {
		return EpochTopic{}, err
	}
	return EpochTopic{
		Topic:      TopicPrefix + strings.ToLower(topicEncoding.EncodeToString(t)),
		Rendezvous: hex.EncodeToString(rv),
	}, nil
}

func topicInfo(ep Epoch) []byte { return fields(domainTopic, []byte(ep.Room), ep.ID) }

func rendezvousInfo(ep Epoch) []byte { return fields(domainRendezvous, []byte(ep.Room), ep.ID) }

// IsTopic reports whether name has the shape of a private room's topic.
func IsTopic(name string) bool {
	h, ok := strings.CutPrefix(name, TopicPrefix)
	if !ok || len(h) != topicEncoding.EncodedLen(TopicHashSize) || h != strings.ToLower(h) {
		return false
	}
	b, err := topicEncoding.DecodeString(strings.ToUpper(h))
	return err == nil && len(b) == TopicHashSize
}
