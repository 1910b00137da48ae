package chat

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// Room is a room this node knows, as the RPC shows it.
type Room struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Private bool   `json:"private"`
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
	if looksLikeRoomID(n) {
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
