package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parley-chat/parley/internal/testwait"
)

// openPTY returns a pseudo-terminal: the master (what a user types into
// and sees) and the slave (the process's terminal).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	// Non-blocking, so os.NewFile puts it in the poller and read
	// deadlines work on it.
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pty slave: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// syncBuffer is a bytes.Buffer safe to write and read from two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A user at a terminal: each line is typed once the prompt is shown and
// the echo is off, as a person would. Nothing typed comes back to the
// screen, the echo is restored afterwards, and a confirmation that
// differs is refused.
func TestTerminalPassphraseNoEcho(t *testing.T) {
	master, slave := openPTY(t)
	if !isTerminal(int(slave.Fd())) {
		t.Fatal("pty slave not seen as a terminal")
	}
	echoOn := func() bool {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&unix.ECHO != 0
	}
	if !echoOn() {
		t.Fatal("a new pty should echo")
	}
	prompt := new(syncBuffer)
	src := passphraseSource{tty: slave, prompt: prompt}
	// typeAt types line once the n-th prompt is out and echo is off.
	typeAt := func(n int, line string) {
		testwait.For(t, 5*time.Second, "prompt "+strconv.Itoa(n)+" with echo off", func() bool {
			return strings.Count(prompt.String(), "passphrase") >= n && !echoOn()
		})
		master.Write([]byte(line + "\n"))
	}
	type result struct {
		p   []byte
		err error
	}
	read := func() chan result {
		c := make(chan result, 1)
		go func() {
			p, err := src.read(t.Context(), true)
			c <- result{p, err}
		}()
		return c
	}

	got := read()
	typeAt(1, "typed secret")
	typeAt(2, "typed secret")
	r := <-got
	if r.err != nil || string(r.p) != "typed secret" {
		t.Fatalf("read %q, %v", r.p, r.err)
	}
	if err := master.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatalf("pty master without deadlines: %v", err)
	}
	screen := make([]byte, 256)
	n, _ := master.Read(screen)
	if bytes.Contains(screen[:n], []byte("secret")) {
		t.Fatalf("the passphrase was echoed: %q", screen[:n])
	}
	if !echoOn() {
		t.Fatal("echo not restored")
	}

	got = read()
	typeAt(3, "one")
	typeAt(4, "two")
	if r := <-got; r.err == nil || !strings.Contains(r.err.Error(), "differ") {
		t.Fatalf("mismatched confirmation: %v", r.err)
	}
}
