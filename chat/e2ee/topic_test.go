package e2ee

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// An epoch's topic and rendezvous follow the documented formula, change
// with the epoch and the secret, and name neither the room nor the epoch.
func TestDeriveTopic(t *testing.T) {
	ep, secret := testEpoch(), fixedSecret()
	et, err := DeriveTopic(secret, ep)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hkdf.Key(sha256.New, secret, nil, string(fields("parley/v1/topic", []byte(ep.Room), ep.ID)), 20)
	if got := strings.ToUpper(strings.TrimPrefix(et.Topic, "/parley/p/")); got != topicEncoding.EncodeToString(want) {
		t.Fatalf("topic %q does not follow the formula", et.Topic)
	}
	rv, _ := hkdf.Key(sha256.New, secret, nil, string(fields("parley/v1/rendezvous", []byte(ep.Room), ep.ID)), 32)
	if et.Rendezvous != hex.EncodeToString(rv) {
		t.Fatalf("rendezvous %q does not follow the formula", et.Rendezvous)
	}
	if !IsTopic(et.Topic) || len(et.Topic) != len(TopicPrefix)+32 {
		t.Fatalf("topic %q: IsTopic false or wrong length", et.Topic)
	}
	for _, s := range []string{et.Topic, et.Rendezvous} {
		if strings.Contains(s, ep.Room) || strings.Contains(s, hex.EncodeToString(ep.ID)) {
			t.Fatalf("%q names the room or the epoch", s)
		}
	}
	if strings.Contains(et.Rendezvous, strings.TrimPrefix(et.Topic, TopicPrefix)) {
		t.Fatal("the rendezvous contains the topic")
	}

	next := Epoch{Room: ep.Room, ID: bytes.Repeat([]byte{7}, len(ep.ID))}
	other := bytes.Clone(secret)
	other[0] ^= 1
	for name, c := range map[string]struct {
		s  []byte
		ep Epoch
	}{"next epoch": {secret, next}, "other secret": {other, ep}, "other room": {secret, Epoch{Room: ep.Room + "x", ID: ep.ID}}} {
		got, err := DeriveTopic(c.s, c.ep)
		if err != nil {
			t.Fatal(err)
		}
		if got.Topic == et.Topic || got.Rendezvous == et.Rendezvous {
			t.Fatalf("%s: same topic or rendezvous", name)
		}
	}

	if _, err := DeriveTopic(secret[:31], ep); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := DeriveTopic(secret, Epoch{Room: ep.Room}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no epoch ID: %v", err)
	}
	for _, bad := range []string{"/parley/room/" + ep.Room, TopicPrefix, TopicPrefix + strings.ToUpper(et.Topic[len(TopicPrefix):]), et.Topic + "a", et.Topic[:len(et.Topic)-1]} {
		if IsTopic(bad) {
			t.Fatalf("IsTopic(%q)", bad)
		}
	}
}
