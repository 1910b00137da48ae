package chat

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Room is a room this node knows, as the RPC shows it.
type Room struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Private bool   `json:"private"`
	// Moderated is set for rooms made by Create: their creator is the
	// first admin, and moderation events (ban, admins, policy) apply.
	Moderated bool `json:"moderated,omitempty"`
	// Policy is a moderated room's join policy (PolicyOpen or
	// PolicyMembers) as its known history decides; "" for other rooms.
	// Filled when rooms are listed, not stored.
	Policy string `json:"policy,omitempty"`
	// Kind is "dm" for a direct conversation, "" for other rooms.
	Kind string `json:"kind,omitempty"`
}

// MaxNameLen bounds a public room's name.
const MaxNameLen = 64

var roomIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// PublicRoomID derives a public room's ID from its normalized name, so every
// node that joins "general" lands in the same room: "p" followed by the
// base32 of the first 20 bytes of sha256 over a domain-separated name.
func PublicRoomID(name string) string {
	sum := sha256.Sum256([]byte("parley/public-room/v1\x00" + name))
	return "p" + roomIDEncoding.EncodeToString(sum[:20])
}

// ModeratedRoomID derives a moderated room's ID from its normalized name
// and its creator: "m" followed by the base32 of the first 20 bytes of
// sha256 over a domain-separated name and the creator's peer ID bytes.
// Another key creating the same name gets another room, so nobody can
// claim a room's admin rights by creating it again.
func ModeratedRoomID(name string, creator peer.ID) string {
	sum := sha256.Sum256([]byte("parley/v1/moderated-room\x00" + name + "\x00" + string(creator)))
	return "m" + roomIDEncoding.EncodeToString(sum[:20])
}

// PrivateRoomID derives a private room's ID from the random nonce of its
// genesis (hex) and its creator, in the moderated ID format ("m" and
// base32 of 20 bytes of sha256 over a domain of its own): the ID says
// nothing of the room's name, which travels only encrypted.
func PrivateRoomID(nonce string, creator peer.ID) string {
	sum := sha256.Sum256([]byte("parley/v1/private-room\x00" + nonce + "\x00" + string(creator)))
	return "m" + roomIDEncoding.EncodeToString(sum[:20])
}

// looksLikeModeratedID reports whether s has the shape of a moderated
// room ID.
func looksLikeModeratedID(s string) bool {
	if len(s) != publicIDLen || s[0] != 'm' {
		return false
	}
	_, err := roomIDEncoding.DecodeString(s[1:])
	return err == nil
}

// publicIDLen is the length of a public room ID: "p" + base32 of 20 bytes.
const publicIDLen = 33

// TopicName is the gossipsub topic of a room.
func TopicName(roomID string) string { return "/parley/room/" + roomID }

// NormalizeName checks a public room name and returns its canonical form:
// lower case, an optional leading '#' dropped, 1 to MaxNameLen characters of
// a-z, 0-9, '-', '_' and '.', starting with a letter or digit.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(name), "#"))
	if n == "" || len(n) > MaxNameLen {
		return "", fmt.Errorf("%w: %q: must be 1 to %d characters", ErrInvalidName, name, MaxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			return "", fmt.Errorf("%w: %q: use a-z, 0-9, '-', '_' and '.', starting with a letter or digit", ErrInvalidName, name)
		}
	}
	if looksLikeRoomID(n) || looksLikeModeratedID(n) {
		return "", fmt.Errorf("%w: %q has the shape of a room ID", ErrInvalidName, name)
	}
	return n, nil
}

// looksLikeRoomID reports whether s has the shape of a public room ID.
func looksLikeRoomID(s string) bool {
	if len(s) != publicIDLen || s[0] != 'p' {
		return false
	}
	_, err := roomIDEncoding.DecodeString(s[1:])
	return err == nil
}
