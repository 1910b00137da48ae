package chat

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Kinds of the events that make a moderated room (docs/PROTOCOL.md
// "Moderation").
const (
	// KindCreate is a moderated room's genesis: its only root, whose
	// author and name derive the room ID.
	KindCreate = "create"
	// KindMod is a moderation act by an admin (modBody).
	KindMod = "mod"
)

// Moderation operations (modBody.Op).
const (
	OpAdmin   = "admin"   // make Peer an admin
	OpUnadmin = "unadmin" // revoke Peer's admin rights
	OpBan     = "ban"     // hide Peer's events and refuse new ones
	OpPurge   = "purge"   // a ban that also hides what the ban had seen
	OpUnban   = "unban"   // lift Peer's ban
	OpAdmit   = "admit"   // let Peer write under the members policy
	OpPolicy  = "policy"  // set the join policy to Policy
)

// Join policies of a moderated room.
const (
	// PolicyOpen lets anyone who is not banned write.
	PolicyOpen = "open"
	// PolicyMembers lets only admins and admitted members write.
	PolicyMembers = "members"
)

// maxModBody bounds a mod or create body: a peer ID and a few words.
const maxModBody = 512

// modBody is the JSON body of a mod event.
type modBody struct {
	Op     string `json:"op"`
	Peer   string `json:"peer,omitempty"`
	Policy string `json:"policy,omitempty"`
}

// modAct is a decoded, checked mod body.
type modAct struct {
	op     string
	peer   peer.ID    // for every op but policy
	policy string     // for policy
	epoch  *epochBody // for an epoch event of a private room
	invite string     // for an invite_revoke event: the invite's ID
}

// decodeMod parses and checks a mod body: known fields only, one op with
// exactly the operand it needs. It is a pure function of the bytes, so
// every node judges a body alike.
func decodeMod(b []byte) (modAct, error) {
	if len(b) > maxModBody {
		return modAct{}, fmt.Errorf("%w: %d bytes", ErrBadModeration, len(b))
	}
	var m modBody
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return modAct{}, fmt.Errorf("%w: %v", ErrBadModeration, err)
	}
	if d.More() {
		return modAct{}, fmt.Errorf("%w: trailing data", ErrBadModeration)
	}
	switch m.Op {
	case OpPolicy:
		if m.Peer != "" || !validPolicy(m.Policy) {
			return modAct{}, fmt.Errorf("%w: policy needs a policy (open or members) and no peer", ErrBadModeration)
		}
		return modAct{op: m.Op, policy: m.Policy}, nil
	case OpAdmin, OpUnadmin, OpBan, OpPurge, OpUnban, OpAdmit:
		if m.Policy != "" {
			return modAct{}, fmt.Errorf("%w: %s takes no policy", ErrBadModeration, m.Op)
		}
		p, err := peer.Decode(m.Peer)
		if err != nil {
			return modAct{}, fmt.Errorf("%w: peer: %v", ErrBadModeration, err)
		}
		return modAct{op: m.Op, peer: p}, nil
	}
	return modAct{}, fmt.Errorf("%w: unknown op %q", ErrBadModeration, m.Op)
}

func validPolicy(p string) bool { return p == PolicyOpen || p == PolicyMembers }

// encodeMod is the body of a mod event doing a.
func encodeMod(a modAct) []byte {
	m := modBody{Op: a.op, Policy: a.policy}
	if a.peer != "" {
		m.Peer = a.peer.String()
	}
	b, _ := json.Marshal(m)
	return b
}

// createBody is the body of a moderated room's genesis. A private
// room's genesis has no name (it travels encrypted, privbody.go), the
// members policy, and the random nonce its ID derives from.
type createBody struct {
	Name    string `json:"name"`
	Policy  string `json:"policy"`
	Private bool   `json:"private,omitempty"`
	Nonce   string `json:"nonce,omitempty"`
	// DM marks a private room as a direct conversation (dm.go).
	DM bool `json:"dm,omitempty"`
}

// decodeCreate parses a genesis body: a normalized name and a policy.
func decodeCreate(b []byte) (createBody, error) {
	if len(b) > maxModBody {
		return createBody{}, fmt.Errorf("%w: %d bytes", ErrBadModeration, len(b))
	}
	var c createBody
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return createBody{}, fmt.Errorf("%w: %v", ErrBadModeration, err)
	}
	if c.Private {
		if c.Name != "" || c.Policy != PolicyMembers || len(c.Nonce) != 2*nonceSize || !isLowerHex(c.Nonce) {
			return createBody{}, fmt.Errorf("%w: a private genesis has no name, the members policy and a %d-byte hex nonce", ErrBadModeration, nonceSize)
		}
		return c, nil
	}
	if c.Nonce != "" || c.DM {
		return createBody{}, fmt.Errorf("%w: a nonce or dm in a public genesis", ErrBadModeration)
	}
	if n, err := NormalizeName(c.Name); err != nil || n != c.Name {
		return createBody{}, fmt.Errorf("%w: name %q is not normalized", ErrBadModeration, c.Name)
	}
	if !validPolicy(c.Policy) {
		return createBody{}, fmt.Errorf("%w: policy %q", ErrBadModeration, c.Policy)
	}
	return c, nil
}
