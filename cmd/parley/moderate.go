package main

import (
	"context"
	"fmt"
	"io"
	"time"

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
	var private bool // --private of create, read before its params
	create := named(call("room_create", 1, "NAME", func(a []string) ([]any, error) {
		return []any{api.CreateRoom{Name: a[0], Private: private}}, nil
	}, func(w io.Writer, r api.Room) {
		if r.Private {
			fmt.Fprintf(w, "created private #%s (%s); add members with: parley invite %s PEER\n", clean(r.Name, false), clean(r.ID, false), clean(r.ID, false))
			return
		}
		fmt.Fprintf(w, "created #%s (%s); others join it with: parley join %s\n", clean(r.Name, false), clean(r.ID, false), clean(r.ID, false))
	}), "create", "create a moderated room (you are its first admin); --private: end-to-end encrypted, members only",
		&cli.BoolFlag{Name: "private", Usage: "a private room: encrypted, its name too; add members with parley invite"})
	action := create.Action
	create.Action = func(ctx context.Context, cmd *cli.Command) error {
		private = cmd.Bool("private")
		return action(ctx, cmd)
	}
	return []*cli.Command{
		create,
		dmCommand(),
		inviteCommand(),
		named(call("room_invites", 1, "ROOM", func(a []string) ([]any, error) { return []any{a[0]}, nil }, printInvites),
			"invites", "list a private room's invites that have not expired, with their uses and revocation (admins)"),
		named(call("room_kick", 2, "ROOM PEER", roomPeer, done("removed; the room has a new key epoch")), "kick",
			"remove a peer from a private room and rekey it (admins)"),
		named(call("room_ban", 2, "ROOM PEER", roomPeer, done("banned")), "ban", "ban a peer from a moderated room (admins)"),
		named(call("room_purge", 2, "ROOM PEER", roomPeer, done("banned; its messages are hidden")), "purge",
			"ban a peer and hide all its messages (admins)"),
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

// inviteCommand is `parley invite ROOM [PEER]`, and with --revoke
// `parley invite --revoke ROOM ID` (room_invite_revoke).
func inviteCommand() *cli.Command {
	inv := named(call("room_invite", -1, "ROOM [PEER]", func(a []string) ([]any, error) {
		if len(a) > 2 {
			return nil, usagef("invite: usage: parley invite ROOM [PEER]")
		}
		return anySlice(a), nil
	}, func(w io.Writer, r struct{ Invite, ID string }) {
		fmt.Fprintf(w, "invite (give it to the peer; it joins with: parley join INVITE):\n%s\n", clean(r.Invite, false))
		fmt.Fprintf(w, "its ID (to revoke it: parley invite --revoke ROOM ID): %s\n", clean(r.ID, false))
	}), "invite", "add PEER to a private room (a new key epoch sealed to it) and print an invite token for it; --revoke ROOM ID: revoke an invite (admins)",
		&cli.BoolFlag{Name: "revoke", Usage: "revoke the invite ID (from parley invites ROOM) instead: it admits nobody any more"})
	revoke := call("room_invite_revoke", 2, "ROOM ID", func(a []string) ([]any, error) { return []any{a[0], a[1]}, nil },
		func(w io.Writer, _ bool) { fmt.Fprintln(w, "revoked") })
	action := inv.Action
	inv.Action = func(ctx context.Context, cmd *cli.Command) error {
		if cmd.Bool("revoke") {
			return revoke.Action(ctx, cmd)
		}
		return action(ctx, cmd)
	}
	return inv
}

func printInvites(w io.Writer, is []api.Invite) {
	if len(is) == 0 {
		fmt.Fprintln(w, "no invites")
	}
	for _, v := range is {
		who := "anyone with the token"
		if v.Invitee != "" {
			who = author(v.Invitee, "")
		}
		state := fmt.Sprintf("used %d of %d", v.Uses, v.MaxUses)
		if v.Revoked {
			state += ", revoked"
		}
		when := clean(v.Expires, false)
		if t, err := time.Parse(time.RFC3339, v.Expires); err == nil {
			when = t.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\texpires %s\n", clean(v.ID, false), who, state, when)
	}
}

func anySlice(a []string) []any {
	out := make([]any, len(a))
	for i, s := range a {
		out[i] = s
	}
	return out
}

// dmCommand is `parley dm PEER [TEXT...]`: with text, send a direct
// message (the first one starts the conversation); without, show the
// conversation.
func dmCommand() *cli.Command {
	return &cli.Command{
		Name:      "dm",
		Usage:     "send a direct message to PEER, or show the conversation with it (end-to-end encrypted)",
		ArgsUsage: "PEER [TEXT...]",
		Flags:     []cli.Flag{&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most this many messages shown"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			args := cmd.Args().Slice()
			if len(args) < 1 {
				return usagef("dm: usage: parley dm PEER [TEXT...]")
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			w := cmd.Root().Writer
			if len(args) > 1 {
				var m api.Message
				if err := c.Call(ctx, "dm_send", []any{args[0], joinArgs(args[1:])}, &m); err != nil {
					return err
				}
				if cmd.Bool("json") {
					return printJSON(w, m)
				}
				fmt.Fprintln(w, clean(m.ID, false))
				return nil
			}
			var msgs []api.Message
			if err := c.Call(ctx, "dm_history", []any{args[0], api.HistoryQuery{Limit: cmd.Int("limit")}}, &msgs); err != nil {
				return err
			}
			if cmd.Bool("json") {
				return printJSON(w, msgs)
			}
			for _, m := range msgs {
				printMessage(w, m)
			}
			return nil
		},
	}
}
