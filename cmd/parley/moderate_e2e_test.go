package main

import (
	"encoding/json"
	"strings"
	"testing"
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
