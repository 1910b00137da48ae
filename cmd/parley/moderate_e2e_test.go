package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
)

// The moderation subcommands against a real daemon: create prints the
// room's ID, admins lists the creator, ban and policy succeed for the
// admin, and a name-only room answers that it has no admins.
func TestBinaryModeration(t *testing.T) {
	d := startDaemon(t, "", "--name", "alice")
	var room struct {
		ID        string `json:"id"`
		Moderated bool   `json:"moderated"`
		Policy    string `json:"policy"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", d.dir, "--json", "create", "ops")), &room); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(room.ID, "m") || !room.Moderated || room.Policy != "open" {
		t.Fatalf("create --json: %+v", room)
	}
	var info struct {
		PeerID string `json:"peerId"`
	}
	json.Unmarshal([]byte(mustCLI(t, "--data", d.dir, "--json", "id")), &info)
	if out := strings.TrimSpace(mustCLI(t, "--data", d.dir, "admins", room.ID)); out != info.PeerID {
		t.Fatalf("admins: %q, want %s", out, info.PeerID)
	}
	const stranger = "12D3KooWGRUVh7dBzV5MQ6KAW9rWzxHJ5Zty5SEzEBxrM8bVrHPz"
	if out := mustCLI(t, "--data", d.dir, "ban", room.ID, stranger); !strings.Contains(out, "banned") {
		t.Fatalf("ban: %q", out)
	}
	mustCLI(t, "--data", d.dir, "policy", room.ID, "members")
	if out := mustCLI(t, "--data", d.dir, "rooms"); !strings.Contains(out, "#ops") {
		t.Fatalf("rooms: %q", out)
	}
	mustCLI(t, "--data", d.dir, "join", "general")
	if _, errOut, code := runCLI(t, "--data", d.dir, "ban", "general", stranger); code != 1 || !strings.Contains(errOut, "no admins") {
		t.Fatalf("ban in a name-only room: exit %d, %q", code, errOut)
	}
	if out := mustCLI(t, "--data", d.dir, "verify"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify: %s", out)
	}
}

// Private rooms through the CLI between two daemons: create --private,
// invite B by peer ID, B joins with the printed token and reads A's
// message; after kick, what A sends next does not reach B's history.
func TestBinaryPrivateRoom(t *testing.T) {
	a := startDaemon(t, "", "--name", "alice")
	var info struct {
		PeerID string `json:"peerId"`
		Addrs  []string
	}
	json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "id")), &info)
	b := startDaemon(t, "", "--name", "bob", "--peer", info.Addrs[0])
	var bInfo struct {
		PeerID string `json:"peerId"`
	}
	json.Unmarshal([]byte(mustCLI(t, "--data", b.dir, "--json", "id")), &bInfo)
	var room struct {
		ID      string `json:"id"`
		Private bool   `json:"private"`
		Invite  string `json:"invite"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "create", "--private", "hideout")), &room); err != nil {
		t.Fatal(err)
	}
	if !room.Private || room.Invite == "" {
		t.Fatalf("create --private: %+v", room)
	}
	var inv struct{ Invite string }
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "invite B (its bundle over the connection)", func() bool {
		out, _, code := runCLI(t, "--data", a.dir, "--json", "invite", room.ID, bInfo.PeerID)
		return code == 0 && json.Unmarshal([]byte(out), &inv) == nil
	})
	mustCLI(t, "--data", b.dir, "join", inv.Invite)
	mustCLI(t, "--data", a.dir, "send", room.ID, "the key is under the mat")
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "A's message at B", func() bool {
		return strings.Contains(mustCLI(t, "--data", b.dir, "history", room.ID), "under the mat")
	})
	if out := mustCLI(t, "--data", a.dir, "kick", room.ID, bInfo.PeerID); !strings.Contains(out, "removed") {
		t.Fatalf("kick: %q", out)
	}
	mustCLI(t, "--data", a.dir, "send", room.ID, "moved it")
	if !strings.Contains(mustCLI(t, "--data", a.dir, "history", room.ID), "moved it") {
		t.Fatal("A does not read its own message after the kick")
	}
	if strings.Contains(mustCLI(t, "--data", b.dir, "history", room.ID), "moved it") {
		t.Fatal("kicked B reads A's message")
	}
}

// parley dm between two daemons: A's first message starts the
// conversation; B shows it with `parley dm A` and answers.
func TestBinaryDirectMessage(t *testing.T) {
	a := startDaemon(t, "", "--name", "alice")
	var info struct {
		PeerID string `json:"peerId"`
		Addrs  []string
	}
	json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "id")), &info)
	b := startDaemon(t, "", "--name", "bob", "--peer", info.Addrs[0])
	var bInfo struct {
		PeerID string `json:"peerId"`
	}
	json.Unmarshal([]byte(mustCLI(t, "--data", b.dir, "--json", "id")), &bInfo)
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "A's first DM (B reachable)", func() bool {
		_, _, code := runCLI(t, "--data", a.dir, "dm", bInfo.PeerID, "psst,", "bob")
		return code == 0
	})
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "A's DM at B", func() bool {
		return strings.Contains(mustCLI(t, "--data", b.dir, "dm", info.PeerID), "psst, bob")
	})
	mustCLI(t, "--data", b.dir, "dm", info.PeerID, "hi alice")
	testwait.ForEvery(t, 200*time.Millisecond, 20*time.Second, "B's answer at A", func() bool {
		return strings.Contains(mustCLI(t, "--data", a.dir, "dm", bInfo.PeerID), "hi alice")
	})
}
