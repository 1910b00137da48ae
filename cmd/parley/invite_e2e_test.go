package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/rpc/api"
)

// Invites through the CLI between two daemons: A lists its private
// room's invite, revokes it, and B's join with it is refused over the
// admit stream with "invite revoked"; a peer A adds by ID shows as
// invited in A's members until it writes; B, not a member, cannot list
// the invites.
func TestBinaryInviteRevoke(t *testing.T) {
	a := startDaemon(t, "", "--name", "alice")
	var info struct {
		PeerID string `json:"peerId"`
		Addrs  []string
	}
	json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "id")), &info)
	b := startDaemon(t, "", "--name", "bob", "--peer", info.Addrs[0])
	c := startDaemon(t, "", "--name", "carol", "--peer", info.Addrs[0])
	var cInfo struct {
		PeerID string `json:"peerId"`
	}
	json.Unmarshal([]byte(mustCLI(t, "--data", c.dir, "--json", "id")), &cInfo)
	var room struct {
		ID     string `json:"id"`
		Invite string `json:"invite"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "create", "--private", "vault")), &room); err != nil {
		t.Fatal(err)
	}
	var invs []api.Invite
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "invites", room.ID)), &invs); err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 || invs[0].Revoked || invs[0].Uses != 0 || invs[0].MaxUses != 1 || invs[0].Inviter != info.PeerID {
		t.Fatalf("invites: %+v", invs)
	}
	if out := mustCLI(t, "--data", a.dir, "invite", "--revoke", room.ID, invs[0].ID); !strings.Contains(out, "revoked") {
		t.Fatalf("invite --revoke: %q", out)
	}
	if out := mustCLI(t, "--data", a.dir, "invites", room.ID); !strings.Contains(out, "revoked") {
		t.Fatalf("invites after revoking: %q", out)
	}
	// B reaches A (the connection may take a moment) and is refused.
	var errOut string
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "B's join refused by A", func() bool {
		var code int
		_, errOut, code = runCLI(t, "--data", b.dir, "join", room.Invite)
		return code != 0 && strings.Contains(errOut, "-32005") && strings.Contains(errOut, "invite revoked")
	})
	if out := mustCLI(t, "--data", b.dir, "rooms"); strings.Contains(out, room.ID) {
		t.Fatalf("refused B lists the room: %q", out)
	}
	_, errOut, code := runCLI(t, "--data", b.dir, "invites", room.ID)
	if code == 0 || !strings.Contains(errOut, "-32002") {
		t.Fatalf("B's invites: exit %d, %q", code, errOut)
	}

	// C added by ID: invited until it writes.
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "invite C (its bundle over the connection)", func() bool {
		_, _, code := runCLI(t, "--data", a.dir, "invite", room.ID, cInfo.PeerID)
		return code == 0
	})
	var ms []api.Member
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "members", room.ID)), &ms); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, m := range ms {
		states[m.PeerID] = m.State
	}
	if states[info.PeerID] != "member" || states[cInfo.PeerID] != "invited" {
		t.Fatalf("members: %+v", ms)
	}
	if out := mustCLI(t, "--data", a.dir, "members", room.ID); !strings.Contains(out, "invited") {
		t.Fatalf("members: %q", out)
	}
}
