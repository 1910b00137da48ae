package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/parley-chat/parley/node"
)

// Where the passphrase of a protected identity comes from, in order: the
// file named by $PARLEY_PASSPHRASE_FILE; the systemd credential
// parley-passphrase ($CREDENTIALS_DIRECTORY/parley-passphrase, from
// LoadCredential= or SetCredentialEncrypted=); the terminal. The
// passphrase itself is never taken from the environment or a flag, which
// other local processes can read.
const (
	envPassphraseFile = "PARLEY_PASSPHRASE_FILE"
	envCredentialsDir = "CREDENTIALS_DIRECTORY"
	credentialName    = "parley-passphrase"
	maxPassphrase     = 1024 // bytes; a file larger than this is not a passphrase
)

// passphraseSource is where this process reads its passphrase from.
type passphraseSource struct {
	file   string   // a file to read, or ""
	tty    *os.File // the terminal to prompt on, if no file
	prompt io.Writer
}

// takePassphraseSource decides where the passphrase comes from and
// removes $PARLEY_PASSPHRASE_FILE from the environment, so no child
// process or later reader of /proc/<pid>/environ learns where it is.
func takePassphraseSource(stderr io.Writer) passphraseSource {
	s := passphraseSource{prompt: stderr}
	if f, ok := os.LookupEnv(envPassphraseFile); ok {
		os.Unsetenv(envPassphraseFile)
		if f != "" {
			s.file = f
			return s
		}
	}
	if d := os.Getenv(envCredentialsDir); d != "" {
		if f := filepath.Join(d, credentialName); fileExists(f) {
			s.file = f
			return s
		}
	}
	if isTerminal(int(os.Stdin.Fd())) {
		s.tty = os.Stdin
	}
	return s
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// String says where the passphrase comes from, for error messages.
func (s passphraseSource) String() string {
	switch {
	case s.file != "":
		return s.file
	case s.tty != nil:
		return "the terminal"
	}
	return "nowhere"
}

// read returns the passphrase. From a terminal it prompts (twice when
// confirm is set, for a new passphrase); from a file it is the content
// less one trailing newline. The caller clears it after use.
func (s passphraseSource) read(ctx context.Context, confirm bool) ([]byte, error) {
	switch {
	case s.file != "":
		return readPassphraseFile(s.file, s.prompt)
	case s.tty != nil:
		p, err := s.ask(ctx, "passphrase: ")
		if err != nil || !confirm {
			return p, err
		}
		again, err := s.ask(ctx, "passphrase again: ")
		defer clear(again)
		if err != nil {
			clear(p)
			return nil, err
		}
		if !bytes.Equal(p, again) {
			clear(p)
			return nil, usagef("the two passphrases differ")
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: set %s to a file holding it, or run in a terminal", node.ErrPassphraseRequired, envPassphraseFile)
}

// readPassphraseFile reads a passphrase file, warning if others may read it.
func readPassphraseFile(path string, warn io.Writer) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(warn, "parley: warning: passphrase file %s is readable by other users (mode %v)\n", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPassphrase+3))
	if err != nil {
		return nil, fmt.Errorf("passphrase file %s: %w", path, err)
	}
	p := trimNewline(b)
	if len(p) > maxPassphrase {
		clear(b)
		return nil, fmt.Errorf("passphrase file %s: longer than %d bytes", path, maxPassphrase)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("passphrase file %s: %w", path, node.ErrEmptyPassphrase)
	}
	return p, nil
}

// trimNewline drops one trailing "\n" or "\r\n", which editors and echo add.
func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// ask prompts on stderr and reads one line from the terminal with echo
// off. Ctrl-C cancels ctx; the echo is restored before returning.
func (s passphraseSource) ask(ctx context.Context, prompt string) ([]byte, error) {
	fmt.Fprint(s.prompt, prompt)
	defer fmt.Fprintln(s.prompt)
	restore, err := echoOff(int(s.tty.Fd()))
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	defer restore()
	type line struct {
		b   []byte
		err error
	}
	got := make(chan line, 1)
	// The read cannot be interrupted; on Ctrl-C this goroutine stays
	// blocked until the process exits, which it is about to.
	go func() {
		b, err := readLine(s.tty)
		got <- line{b, err}
	}()
	select {
	case l := <-got:
		if l.err != nil {
			return nil, fmt.Errorf("terminal: %w", l.err)
		}
		if len(l.b) == 0 {
			return nil, node.ErrEmptyPassphrase
		}
		return l.b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readLine reads up to a newline a byte at a time, so nothing after it is
// consumed from stdin.
func readLine(r io.Reader) ([]byte, error) {
	var b []byte
	var c [1]byte
	for len(b) <= maxPassphrase {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				return trimNewline(append(b, '\n')), nil
			}
			b = append(b, c[0])
		}
		if errors.Is(err, io.EOF) && len(b) > 0 {
			return b, nil
		}
		if err != nil {
			clear(b)
			return nil, err
		}
	}
	clear(b)
	return nil, fmt.Errorf("passphrase longer than %d bytes", maxPassphrase)
}
