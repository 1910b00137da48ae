package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/parley-chat/parley/rpc/api"
)

// moderationCommands are the client subcommands of moderated rooms:
// create one, and act in it as an admin.
func moderationCommands() []*cli.Command {
	roomPeer := func(a []string) ([]any, error) { return []any{a[0], a[1]}, nil }
	done := func(what string) func(io.Writer, bool) {
		return func(w io.Writer, _ bool) { fmt.Fprintln(w, what) }
	}
	return []*cli.Command{
		named(call("room_create", 1, "NAME", func(a []string) ([]any, error) {
			return []any{api.CreateRoom{Name: a[0]}}, nil
		}, func(w io.Writer, r api.Room) {
			fmt.Fprintf(w, "created #%s (%s); others join it with: parley join %s\n", clean(r.Name, false), clean(r.ID, false), clean(r.ID, false))
		}), "create", "create a moderated room (you are its first admin)"),
		named(call("room_ban", 2, "ROOM PEER", roomPeer, done("banned")), "ban", "ban a peer from a moderated room (admins)"),
		named(call("room_unban", 2, "ROOM PEER", roomPeer, done("unbanned")), "unban", "lift a ban (admins)"),
		named(call("room_admin", 2, "ROOM PEER", roomPeer, done("made admin")), "admin", "make a peer an admin of a moderated room (admins)"),
		named(call("room_unadmin", 2, "ROOM PEER", roomPeer, done("admin rights revoked")), "unadmin", "revoke a peer's admin rights (admins)"),
		named(call("room_admit", 2, "ROOM PEER", roomPeer, done("admitted")), "admit", "let a peer write under the members policy (admins)"),
		named(call("room_policy", 2, "ROOM open|members", roomPeer, done("policy set")), "policy", "set who may write in a moderated room (admins)"),
		named(call("room_admins", 1, "ROOM", func(a []string) ([]any, error) { return []any{a[0]}, nil },
			func(w io.Writer, ps []string) {
				for _, p := range ps {
					fmt.Fprintln(w, clean(p, false))
				}
			}), "admins", "list a moderated room's admins"),
	}
}
