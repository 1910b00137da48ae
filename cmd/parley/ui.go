package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"github.com/urfave/cli/v3"

	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
	"github.com/parley-chat/parley/rpc/webui"
)

func uiCommand() *cli.Command {
	return &cli.Command{
		Name:  "ui",
		Usage: "print the link to this node's chat page and open it in the default browser",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "no-open", Usage: "only print the link"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("ui takes no arguments, got %q", cmd.Args().Slice())
			}
			dir, err := node.ResolveDataDir(cmd.String("data"))
			if err != nil {
				return err
			}
			rpcURL, token, err := client.ReadEndpoint(dir)
			if err != nil {
				return fmt.Errorf("%w (is `parley daemon --data %s` running?)", err, dir)
			}
			// rpc.addr can outlive a killed daemon: check that it answers.
			var info api.NodeInfo
			if err := client.Dial(rpcURL, token).Call(ctx, "node_info", []any{}, &info); err != nil {
				return err
			}
			u, err := webui.URL(rpcURL, token)
			if err != nil {
				return err
			}
			w := cmd.Root().Writer
			if cmd.Bool("json") {
				return printJSON(w, map[string]string{"url": u})
			}
			fmt.Fprintln(w, u)
			if cmd.Bool("no-open") {
				return nil
			}
			name, args, ok := opener(runtime.GOOS, os.Getenv, exec.LookPath)
			if !ok {
				fmt.Fprintln(cmd.Root().ErrWriter, "no desktop opener found: open the link above in your browser")
				return nil
			}
			c := exec.Command(name, append(args, u)...)
			if err := c.Start(); err != nil {
				fmt.Fprintf(cmd.Root().ErrWriter, "could not start %s (%v): open the link above in your browser\n", name, err)
				return nil
			}
			// The opener hands the link to the browser and exits; do not
			// tie this command's exit to the browser's lifetime.
			return c.Process.Release()
		},
	}
}

// opener returns the desktop's command for opening a URL: open on macOS,
// rundll32's URL handler on Windows, xdg-open elsewhere, but only under a
// graphical session (without one xdg-open may start a text browser in
// this terminal). ok is false when there is none.
func opener(goos string, getenv func(string) string, lookPath func(string) (string, error)) (name string, args []string, ok bool) {
	switch goos {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
			return "", nil, false
		}
		name = "xdg-open"
	}
	path, err := lookPath(name)
	if err != nil {
		return "", nil, false
	}
	return path, args, true
}
