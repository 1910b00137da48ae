package chat

import (
	"testing"
)

// FuzzDecodeMod runs the mod body decoder on arbitrary bytes. Properties:
// no panic; a body it accepts names a known op with exactly its operand,
// and re-encoding the act decodes to the same act (so every node reads a
// body alike); a body it refuses says why, wrapping ErrBadModeration.
// Seeds: testdata/fuzz/FuzzDecodeMod.
func FuzzDecodeMod(f *testing.F) {
	f.Add([]byte(`{"op":"ban","peer":"12D3KooWGRUVh7dBzV5MQ6KAW9rWzxHJ5Zty5SEzEBxrM8bVrHPz"}`))
	f.Add([]byte(`{"op":"policy","policy":"members"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		act, err := decodeMod(b)
		if err != nil {
			if act != (modAct{}) {
				t.Fatalf("refused %q but returned %+v", b, act)
			}
			return
		}
		switch act.op {
		case OpPolicy:
			if act.peer != "" || !validPolicy(act.policy) {
				t.Fatalf("accepted policy act %+v from %q", act, b)
			}
		case OpAdmin, OpUnadmin, OpBan, OpUnban, OpAdmit:
			if act.peer == "" || act.policy != "" {
				t.Fatalf("accepted %s act %+v from %q", act.op, act, b)
			}
		default:
			t.Fatalf("accepted unknown op %q from %q", act.op, b)
		}
		again, err := decodeMod(encodeMod(act))
		if err != nil || again != act {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", act, again, err)
		}
	})
}

// FuzzDecodeCreate: the genesis body decoder accepts only a normalized
// name and a known policy, or a private genesis (no name, the members
// policy, a 16-byte hex nonce), and never panics.
func FuzzDecodeCreate(f *testing.F) {
	f.Add([]byte(`{"name":"general","policy":"open"}`))
	f.Add([]byte(`{"name":"","policy":"members","private":true,"nonce":"00112233445566778899aabbccddeeff"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCreate(b)
		if err != nil {
			return
		}
		if c.Private {
			if c.Name != "" || c.Policy != PolicyMembers || len(c.Nonce) != 2*nonceSize || !isLowerHex(c.Nonce) {
				t.Fatalf("accepted private %+v from %q", c, b)
			}
			return
		}
		if n, err := NormalizeName(c.Name); err != nil || n != c.Name || !validPolicy(c.Policy) || c.Nonce != "" {
			t.Fatalf("accepted %+v from %q", c, b)
		}
	})
}
