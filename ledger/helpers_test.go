package ledger_test

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/record"
)

type otherRecord struct{}

func (otherRecord) Domain() string                 { return "not-parley" }
func (otherRecord) Codec() []byte                  { return []byte("/parley/event/1") }
func (otherRecord) MarshalRecord() ([]byte, error) { return []byte{1, 0}, nil }
func (otherRecord) UnmarshalRecord([]byte) error   { return nil }

func signOtherDomain(t *testing.T, key crypto.PrivKey) []byte {
	env, err := record.Seal(otherRecord{}, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
