package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/urfave/cli/v3"

	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

func peerIDOf(key crypto.PrivKey) (peer.ID, error) { return peer.IDFromPrivateKey(key) }

// dial connects to the daemon whose data dir the flags name.
func dial(cmd *cli.Command) (*client.Client, error) {
	dir, err := node.ResolveDataDir(cmd.String("data"))
	if err != nil {
		return nil, err
	}
	url, token, err := client.ReadEndpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("%w (is `parley daemon --data %s` running?)", err, dir)
	}
	return client.Dial(url, token), nil
}

// call runs one RPC method and either prints its result as JSON (--json)
// or hands it to human for display.
func call[T any](method string, nargs int, argsUsage string, params func([]string) ([]any, error), human func(io.Writer, T)) *cli.Command {
	return &cli.Command{
		Name:      "",
		ArgsUsage: argsUsage,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			args := cmd.Args().Slice()
			if nargs >= 0 && len(args) != nargs || nargs < 0 && len(args) < -nargs {
				return usagef("%s: usage: parley %s %s", cmd.Name, cmd.Name, argsUsage)
			}
			p, err := params(args)
			if err != nil {
				return err
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.Call(ctx, method, p, &raw); err != nil {
				return err
			}
			w := cmd.Root().Writer
			if cmd.Bool("json") {
				fmt.Fprintln(w, string(raw))
				return nil
			}
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%s: unexpected result: %w", method, err)
			}
			human(w, v)
			return nil
		},
	}
}

func named(c *cli.Command, name, usage string, flags ...cli.Flag) *cli.Command {
	c.Name, c.Usage, c.Flags = name, usage, flags
	return c
}

func none([]string) ([]any, error) { return []any{}, nil }

func clientCommands() []*cli.Command {
	return []*cli.Command{
		named(call("node_info", 0, "", none, func(w io.Writer, r api.NodeInfo) {
			fmt.Fprintf(w, "peer ID  %s\nversion  %s\npeers    %d\nrooms    %d\n", clean(r.PeerID, false), clean(r.Version, false), r.Peers, r.Rooms)
			for _, a := range r.Addrs {
				fmt.Fprintf(w, "address  %s\n", clean(a, false))
			}
		}), "id", "show this node's peer ID and addresses"),
		named(call("node_peers", 0, "", none, func(w io.Writer, r []api.PeerInfo) {
			if len(r) == 0 {
				fmt.Fprintln(w, "no peers connected")
			}
			for _, p := range r {
				fmt.Fprintln(w, clean(p.PeerID, false), clean(joinArgs(p.Addrs), false))
			}
		}), "peers", "list connected peers"),
		named(call("node_connect", 1, "MULTIADDR", func(a []string) ([]any, error) { return []any{a[0]}, nil },
			func(w io.Writer, _ bool) { fmt.Fprintln(w, "connected") }), "connect", "connect to a peer by full multiaddr"),
		named(call("room_list", 0, "", none, func(w io.Writer, r []api.Room) {
			if len(r) == 0 {
				fmt.Fprintln(w, "no rooms joined")
			}
			for _, room := range r {
				fmt.Fprintf(w, "#%s\t%s\n", clean(room.Name, false), clean(room.ID, false))
			}
		}), "rooms", "list joined rooms"),
		named(call("room_join", 1, "ROOM", func(a []string) ([]any, error) { return []any{a[0]}, nil },
			func(w io.Writer, r api.Room) {
				fmt.Fprintf(w, "joined #%s (%s)\n", clean(r.Name, false), clean(r.ID, false))
			}), "join", "join a public room by name, a moderated room by ID, or a private room by invite token"),
		named(call("room_leave", 1, "ROOM", func(a []string) ([]any, error) { return []any{a[0]}, nil },
			func(w io.Writer, _ bool) { fmt.Fprintln(w, "left") }), "leave", "leave a room"),
		named(call("msg_send", -2, "ROOM TEXT...", func(a []string) ([]any, error) { return []any{a[0], joinArgs(a[1:])}, nil },
			func(w io.Writer, m api.Message) { fmt.Fprintln(w, clean(m.ID, false)) }), "send", "send a message to a room"),
		named(call("room_members", 1, "ROOM", func(a []string) ([]any, error) { return []any{a[0]}, nil }, printMembers),
			"members", "list a room's members"),
		historyCommand(),
		tailCommand(),
		verifyCommand(),
	}
}

func historyCommand() *cli.Command {
	c := &cli.Command{
		Name:      "history",
		Usage:     "show a room's messages, oldest first",
		ArgsUsage: "ROOM",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most this many messages"},
			&cli.StringFlag{Name: "before", Usage: "only messages before this message ID"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("history: usage: parley history ROOM [--limit N]")
			}
			if cmd.Int("limit") <= 0 {
				return usagef("history: --limit must be positive")
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			q := api.HistoryQuery{Limit: cmd.Int("limit"), Before: cmd.String("before")}
			var msgs []api.Message
			if err := c.Call(ctx, "msg_history", []any{cmd.Args().First(), q}, &msgs); err != nil {
				return err
			}
			w := cmd.Root().Writer
			if cmd.Bool("json") {
				return printJSON(w, msgs)
			}
			for _, m := range msgs {
				printMessage(w, m)
			}
			return nil
		},
	}
	return c
}

func tailCommand() *cli.Command {
	return &cli.Command{
		Name:      "tail",
		Usage:     "print a room's new messages as they arrive (Ctrl-C to stop)",
		ArgsUsage: "ROOM",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "since", Usage: "first replay messages after this cursor or message ID"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("tail: usage: parley tail ROOM")
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			sub, err := c.Subscribe(ctx, cmd.Args().First(), cmd.String("since"))
			if err != nil {
				return err
			}
			defer sub.Close()
			w := cmd.Root().Writer
			red := sub.Redactions()
			for {
				select {
				case <-ctx.Done():
					return nil
				case r, ok := <-red:
					if !ok {
						red = nil // closed with C, which ends the loop
						continue
					}
					if cmd.Bool("json") {
						printJSON(w, r)
					} else {
						fmt.Fprintf(w, "[withdrawn by a moderator: %s]\n", clean(r.Redacted, false))
					}
				case m, ok := <-sub.C():
					if !ok {
						if err := sub.Err(); err != nil {
							return fmt.Errorf("subscription ended: %w (resume with --since %s)", err, sub.Cursor())
						}
						return nil
					}
					if cmd.Bool("json") {
						printJSON(w, m)
					} else {
						printMessage(w, m)
					}
				}
			}
		},
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check the signatures and links of a room's ledger (all rooms without ROOM)",
		ArgsUsage: "[ROOM]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 1 {
				return usagef("verify: usage: parley verify [ROOM]")
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			params := []any{}
			if cmd.Args().Len() == 1 {
				params = append(params, cmd.Args().First())
			}
			var rep api.VerifyReport
			if err := c.Call(ctx, "ledger_verify", params, &rep); err != nil {
				return err
			}
			w := cmd.Root().Writer
			if cmd.Bool("json") {
				printJSON(w, rep)
			} else if rep.OK {
				fmt.Fprintf(w, "ok: %d events verified\n", rep.Events)
			} else {
				fmt.Fprintf(w, "FAILED: %d events checked, %d problems\n", rep.Events, len(rep.Problems))
				for _, p := range rep.Problems {
					fmt.Fprintf(w, "  %s: %s\n", clean(p.Event, false), clean(p.Reason, false))
				}
			}
			if !rep.OK {
				return failure{fmt.Errorf("ledger verification failed")}
			}
			return nil
		},
	}
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func printMessage(w io.Writer, m api.Message) {
	when := clean(m.Time, false)
	if t, err := time.Parse(time.RFC3339Nano, m.Time); err == nil {
		when = t.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(w, "[%s] %s: %s\n", when, author(m.Author, m.AuthorName), strconv.Quote(m.Text)[1:len(strconv.Quote(m.Text))-1])
}

// author renders a peer as "name (…suffix)": the name after displayName's
// rules, the suffix the last 8 characters of the peer ID.
func author(id, name string) string {
	who := clean(id, false)
	if len(who) > 12 {
		who = "…" + who[len(who)-8:]
	}
	if n := displayName(name); n != "" {
		who = n + " (" + who + ")"
	}
	return who
}

func printMembers(w io.Writer, ms []api.Member) {
	if len(ms) == 0 {
		fmt.Fprintln(w, "no members")
	}
	for _, m := range ms {
		when := clean(m.LastSeen, false)
		if t, err := time.Parse(time.RFC3339, m.LastSeen); err == nil {
			when = t.Local().Format("2006-01-02 15:04")
		}
		if m.State == "invited" {
			fmt.Fprintf(w, "%s\tinvited, not seen yet\n", author(m.PeerID, m.Name))
			continue
		}
		fmt.Fprintf(w, "%s\tlast seen %s\n", author(m.PeerID, m.Name), when)
	}
}
