package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/parley-chat/parley/node"
)

// Exit statuses.
const (
	exitOK      = 0
	exitError   = 1 // the command failed
	exitUsage   = 2 // bad flags or arguments
	exitFailure = 3 // the command ran and found a problem (verify)
	exitLocked  = 4 // the identity key stayed locked: no, empty or wrong passphrase
)

// usageError marks errors in how the command was called.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// failure marks a check that ran and failed (exit 3), after printing its report.
type failure struct{ error }

// run executes the CLI and returns the exit status. It never calls os.Exit,
// so tests can drive it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(ctx, args)
	if err == nil {
		return exitOK
	}
	printErr(stderr, err)
	var ue usageError
	var f failure
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &f):
		return exitFailure
	case errors.Is(err, node.ErrWrongPassphrase), errors.Is(err, node.ErrPassphraseRequired), errors.Is(err, node.ErrEmptyPassphrase):
		return exitLocked
	}
	return exitError
}

func newApp(stdout, stderr io.Writer) *cli.Command {
	app := &cli.Command{
		Name:            "parley",
		Usage:           "a peer-to-peer messenger node",
		Version:         node.Version,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(context.Context, *cli.Command, error) {},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return usageError{err}
		},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "data directory (default $PARLEY_DATA, else ~/.parley, or the app data folder on macOS and Windows)"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable JSON output"},
		},
		Commands: append([]*cli.Command{initCommand(), daemonCommand(false), daemonCommand(true), benchCommand()}, append(clientCommands(), moderationCommands()...)...),
	}
	app.Commands = append(app.Commands, uiCommand())
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	return app
}

// printErr prints err for the user. Errors can carry what peers or the
// daemon said (a room name, a message), so the display rules apply.
func printErr(w io.Writer, err error) {
	fmt.Fprintln(w, "parley:", clean(err.Error(), true))
}
