package chat

import (
	"errors"
	"testing"

	"github.com/parley-chat/parley/ledger"
)

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"general", "general", true},
		{"#General", "general", true},
		{"  dev-talk  ", "dev-talk", true},
		{"a.b_c-d", "a.b_c-d", true},
		{"", "", false},
		{"-leading", "", false},
		{"has space", "", false},
		{"émoji", "", false},
		{string(make([]byte, MaxNameLen+1)), "", false},
		{PublicRoomID("general"), "", false}, // ID-shaped names are refused
	} {
		got, err := NormalizeName(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("NormalizeName(%q) error %v is not ErrInvalidName", tc.in, err)
		}
	}
}

func TestPublicRoomID(t *testing.T) {
	id := PublicRoomID("general")
	if len(id) != publicIDLen || !looksLikeRoomID(id) {
		t.Fatalf("PublicRoomID = %q", id)
	}
	if err := ledger.ValidRoomID(id); err != nil {
		t.Fatalf("public room ID is not a valid ledger room: %v", err)
	}
	if PublicRoomID("general") != id || PublicRoomID("random") == id {
		t.Fatal("room IDs must be stable per name and differ between names")
	}
	// Pinned: every implementation must derive the same ID.
	if id != "ptnayqpvn7rmdmpcqf6goc5ajfv5ahd2t" {
		t.Fatalf("PublicRoomID(general) changed: %s", id)
	}
}

func TestEncodeText(t *testing.T) {
	if _, err := encodeText(""); !errors.Is(err, ErrEmptyMessage) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := encodeText(string(make([]byte, MaxTextBytes+1))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := encodeText("\xff\xfe"); !errors.Is(err, ErrInvalidText) {
		t.Fatal("invalid UTF-8 accepted")
	}
	if b, err := encodeText("héllo"); err != nil || string(b) != `{"text":"héllo"}` {
		t.Fatalf("encodeText = %s, %v", b, err)
	}
}
