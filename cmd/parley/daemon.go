package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc/client"
	"github.com/parley-chat/parley/rpc/webui"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the data directory, identity and config file",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "passphrase", Usage: "protect the identity key with a passphrase (read from $" + envPassphraseFile + ", else the terminal); converts an existing unprotected key in place"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			dir, err := node.ResolveDataDir(cmd.String("data"))
			if err != nil {
				return err
			}
			if cmd.Bool("passphrase") {
				return initProtected(ctx, cmd, dir)
			}
			created, err := node.Init(dir)
			if err != nil {
				return err
			}
			w := cmd.Root().Writer
			path := filepath.Join(dir, node.KeyFile)
			if p, _ := node.KeyProtected(path); p {
				fmt.Fprintf(w, "%s already initialized\nidentity key protected by a passphrase\n", dir)
				return nil
			}
			key, _, err := node.LoadOrCreateKey(path)
			if err != nil {
				return err
			}
			id, err := peerIDOf(key)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(w, "initialized %s\npeer ID %s\n", dir, id)
			} else {
				fmt.Fprintf(w, "%s already initialized\npeer ID %s\n", dir, id)
			}
			return nil
		},
	}
}

// initProtected is init --passphrase: create a protected identity, or
// seal the existing one in place, or check an already protected one.
func initProtected(ctx context.Context, cmd *cli.Command, dir string) error {
	src := takePassphraseSource(cmd.Root().ErrWriter)
	protected, err := node.KeyProtected(filepath.Join(dir, node.KeyFile))
	if err != nil {
		return err
	}
	pass, err := src.read(ctx, !protected)
	if err != nil {
		return err
	}
	defer clear(pass)
	keys, res, err := node.InitProtected(dir, pass, node.DefaultKDFParams())
	if err != nil {
		if errors.Is(err, node.ErrWrongPassphrase) {
			return fmt.Errorf("%w; the passphrase came from %s; the key is unchanged", err, src)
		}
		return err
	}
	id, err := peerIDOf(keys.Identity)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	switch res {
	case node.KeyCreated:
		fmt.Fprintf(w, "initialized %s\npeer ID %s\nidentity key protected by a passphrase\n", dir, id)
	case node.KeyConverted:
		fmt.Fprintf(w, "%s: identity key now protected by a passphrase\npeer ID %s (unchanged)\n", dir, id)
		fmt.Fprintln(cmd.Root().ErrWriter, "parley: note: backups and old disk blocks may still hold the unprotected key")
	default:
		fmt.Fprintf(w, "%s already initialized\npeer ID %s\nidentity key already protected by this passphrase\n", dir, id)
	}
	return nil
}

func daemonCommand(bootstrap bool) *cli.Command {
	name, usage := "daemon", "run a node"
	if bootstrap {
		name, usage = "bootstrap", "run a community bootstrap node (DHT server, no chat)"
	}
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "listen", Usage: "libp2p listen multiaddr (repeatable)"},
			&cli.StringSliceFlag{Name: "peer", Usage: "bootstrap peer multiaddr ending in /p2p/<id> (repeatable)"},
			&cli.StringFlag{Name: "rpc", Usage: "JSON-RPC listen address host:port (default " + node.DefaultRPCAddr + ")"},
			&cli.BoolFlag{Name: "rpc-allow-remote", Usage: "allow a non-loopback --rpc address"},
			&cli.BoolFlag{Name: "no-mdns", Usage: "disable LAN discovery"},
			&cli.BoolFlag{Name: "no-nat-portmap", Usage: "do not ask the router for a port mapping"},
			&cli.StringFlag{Name: "name", Usage: "display name announced in rooms"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error"},
			&cli.BoolFlag{Name: "metrics", Usage: "serve Prometheus metrics at /metrics on the RPC address, behind the RPC token"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("%s takes no arguments, got %q", name, cmd.Args().Slice())
			}
			return runDaemon(ctx, cmd, bootstrap)
		},
	}
}

func runDaemon(ctx context.Context, cmd *cli.Command, bootstrap bool) error {
	dir, err := node.ResolveDataDir(cmd.String("data"))
	if err != nil {
		return err
	}
	if _, err := node.Init(dir); err != nil {
		return err
	}
	cfg, err := node.LoadConfig(filepath.Join(dir, node.ConfigFile))
	if err != nil {
		return err
	}
	if v := cmd.StringSlice("listen"); len(v) > 0 {
		cfg.Listen = v
	}
	cfg.Peers = append(cfg.Peers, cmd.StringSlice("peer")...)
	if v := cmd.String("rpc"); v != "" {
		cfg.RPC = v
	}
	if cmd.Bool("rpc-allow-remote") {
		cfg.RPCAllowRemote = true
	}
	off := false
	if cmd.Bool("no-mdns") {
		cfg.MDNS = &off
	}
	if cmd.Bool("no-nat-portmap") {
		cfg.NATPortMap = &off
	}
	if v := cmd.String("name"); v != "" {
		cfg.Name = v
	}
	if v := cmd.String("log-level"); v != "" {
		cfg.LogLevel = v
	}
	if cmd.Bool("metrics") {
		cfg.Metrics = true
	}
	var level slog.Level
	if cfg.LogLevel != "" {
		if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
			return usagef("log level %q: use debug, info, warn or error", cfg.LogLevel)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	// Decided before anything starts, so the variable naming the
	// passphrase file is gone from the environment from here on.
	src := takePassphraseSource(cmd.Root().ErrWriter)
	unlock := func() ([]byte, error) { return src.read(ctx, false) }
	if p, _ := node.KeyProtected(filepath.Join(dir, node.KeyFile)); !p && src.file != "" {
		log.Warn("a passphrase file is given but the identity key is not protected; run parley init --passphrase to protect it", "file", src.file)
	}
	n, err := node.New(ctx, node.Options{DataDir: dir, Config: cfg, Bootstrap: bootstrap, Logger: log, Passphrase: unlock})
	if errors.Is(err, node.ErrWrongPassphrase) {
		return fmt.Errorf("%w; the passphrase came from %s", err, src)
	}
	if err != nil {
		return err
	}
	info, _ := n.Info(ctx)
	w := cmd.Root().Writer
	fmt.Fprintf(w, "parley %s %s\npeer ID %s\n", map[bool]string{false: "daemon", true: "bootstrap node"}[bootstrap], node.Version, info.PeerID)
	for _, a := range info.Addrs {
		fmt.Fprintf(w, "listening on %s\n", a)
	}
	fmt.Fprintf(w, "rpc %s\n", n.RPCURL())
	if !bootstrap {
		// The chat page's link carries the token (in the fragment, which
		// browsers never send), so the person who started the node can
		// open it; it is as secret as <data>/rpc.token.
		if rpcURL, token, err := client.ReadEndpoint(dir); err == nil {
			if u, err := webui.URL(rpcURL, token); err == nil {
				fmt.Fprintf(w, "ui %s\n", u)
			}
		}
	}
	if u := n.MetricsURL(); u != "" {
		fmt.Fprintf(w, "metrics %s\n", u)
	}
	<-ctx.Done()
	fmt.Fprintln(w, "shutting down")
	if err := n.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// joinArgs joins the remaining arguments into one text.
func joinArgs(args []string) string { return strings.Join(args, " ") }
