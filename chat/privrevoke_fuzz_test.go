package chat

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeInviteBodies: an accepted invite, invite_use or
// invite_revoke body has a 32-hex-digit ID and the operands its kind
// needs, and re-encodes to a body that decodes alike, so every node
// judges and lists it the same.
func FuzzDecodeInviteBodies(f *testing.F) {
	const id = `"00112233445566778899aabbccddeeff"`
	const p = `"12D3KooWGRUVh7dBzV5MQ6KAW9rWzxHJ5Zty5SEzEBxrM8bVrHPz"`
	f.Add([]byte(`{"id":` + id + `,"hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","uses":1,"expires":1796000000000,"invitee":` + p + `}`))
	f.Add([]byte(`{"id":` + id + `,"hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","uses":3}`))
	f.Add([]byte(`{"id":` + id + `,"peer":` + p + `}`))
	f.Add([]byte(`{"id":` + id + `}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := decodeInvite(b); err == nil {
			if !validInviteID(v.ID) || v.Uses == 0 || v.Expires < 0 || v.Invitee != "" && v.Invitee.Validate() != nil {
				t.Fatalf("accepted invite %+v from %q", v, b)
			}
			re, _ := json.Marshal(v)
			if again, err := decodeInvite(re); err != nil || !reflect.DeepEqual(again, v) {
				t.Fatalf("re-encoded invite %+v decodes to %+v, %v", v, again, err)
			}
		}
		if v, err := decodeInviteUse(b); err == nil && (!validInviteID(v.ID) || v.Peer == "") {
			t.Fatalf("accepted invite_use %+v from %q", v, b)
		}
		if v, err := decodeInviteRevoke(b); err == nil {
			if !validInviteID(v.ID) {
				t.Fatalf("accepted invite_revoke %+v from %q", v, b)
			}
			re, _ := json.Marshal(v)
			if again, err := decodeInviteRevoke(re); err != nil || *again != *v {
				t.Fatalf("re-encoded revoke %+v decodes to %+v, %v", v, again, err)
			}
		}
	})
}
