package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/testwait"
)

// parleyBin is the real binary, built once for the end-to-end tests.
var parleyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-e2e")
	if err != nil {
		panic(err)
	}
	parleyBin = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-o", parleyBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("build parley: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a running `parley daemon` process.
type daemon struct {
	dir string
	cmd *exec.Cmd
	out *bytes.Buffer
}

// startDaemon runs the real binary on loopback with a free RPC port and
// waits until it has written rpc.addr.
func startDaemon(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	return startProcess(t, "daemon", dir, extra...)
}

// startProcess runs `parley <sub>` (daemon or bootstrap) on loopback with a
// free RPC port and waits until it has written rpc.addr.
func startProcess(t *testing.T, sub, dir string, extra ...string) *daemon {
	t.Helper()
	return startProcessEnv(t, nil, sub, dir, extra...)
}

// startProcessEnv is startProcess with env (KEY=value) added to the
// process's environment.
func startProcessEnv(t *testing.T, env []string, sub, dir string, extra ...string) *daemon {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	args := append([]string{"--data", dir, sub, "--listen", "/ip4/127.0.0.1/tcp/0", "--rpc", "127.0.0.1:0",
		"--no-mdns", "--no-nat-portmap", "--log-level", "warn"}, extra...)
	os.Remove(filepath.Join(dir, "rpc.addr")) // left by a killed daemon
	cmd := exec.Command(parleyBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{dir: dir, cmd: cmd, out: out}
	t.Cleanup(func() { d.stop(t) })
	testwait.For(t, 15*time.Second, "parley "+sub+" to write rpc.addr", func() bool {
		_, err := os.Stat(filepath.Join(dir, "rpc.addr"))
		return err == nil
	}, func() string { return "output:\n" + out.String() })
	return d
}

func (d *daemon) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exited with %v after SIGTERM; output:\n%s", err, d.out)
		}
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("daemon did not stop within 15s of SIGTERM")
	}
}

// runCLI runs the real binary and returns stdout, stderr and the exit status.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// runCLIEnv is runCLI with env (KEY=value) added to the environment.
func runCLIEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, parleyBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("parley %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func TestBinarySendAndHistory(t *testing.T) {
	d := startDaemon(t, "", "--name", "alice")
	mustCLI(t, "--data", d.dir, "join", "general")
	id := strings.TrimSpace(mustCLI(t, "--data", d.dir, "send", "general", "hello", "world"))
	if !strings.HasPrefix(id, "v") {
		t.Fatalf("send printed %q, want a message ID", id)
	}
	mustCLI(t, "--data", d.dir, "send", "general", "second message")

	out := mustCLI(t, "--data", d.dir, "history", "general")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "alice") || !strings.HasSuffix(lines[0], ": hello world") || !strings.HasSuffix(lines[1], ": second message") {
		t.Fatalf("history output:\n%s", out)
	}
	var msgs []struct{ ID, Text string }
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", d.dir, "--json", "history", "general", "--limit", "1")), &msgs); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Text != "second message" {
		t.Fatalf("history --json --limit 1: %+v", msgs)
	}
	var info struct {
		PeerID string   `json:"peerId"`
		Addrs  []string `json:"addrs"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", d.dir, "id", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.PeerID == "" || len(info.Addrs) == 0 || !strings.HasSuffix(info.Addrs[0], "/p2p/"+info.PeerID) {
		t.Fatalf("id --json: %+v", info)
	}
	if out := mustCLI(t, "--data", d.dir, "verify"); !strings.HasPrefix(out, "ok: 3 events") {
		t.Fatalf("verify: %s", out)
	}
	if out := mustCLI(t, "--data", d.dir, "rooms"); !strings.Contains(out, "#general") {
		t.Fatalf("rooms: %s", out)
	}
}

func TestBinaryErrors(t *testing.T) {
	d := startDaemon(t, "")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"not a member", []string{"--data", d.dir, "send", "nowhere", "hi"}, 1, "not a member"},
		{"bad room name", []string{"--data", d.dir, "join", "bad name!"}, 1, "invalid room name"},
		{"missing args", []string{"--data", d.dir, "send", "general"}, 2, "usage"},
		{"unknown flag", []string{"--data", d.dir, "history", "general", "--bogus"}, 2, "bogus"},
		{"no daemon", []string{"--data", t.TempDir(), "id"}, 1, "daemon"},
		{"bad multiaddr", []string{"--data", d.dir, "connect", "not-a-multiaddr"}, 1, "multiaddr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(strings.ToLower(errOut), tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.code, tc.msg)
			}
		})
	}
	// The daemon is still serving.
	mustCLI(t, "--data", d.dir, "id")
	// A second daemon on the same data dir is refused.
	_, errOut, code := runCLI(t, "--data", d.dir, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--rpc", "127.0.0.1:0", "--no-mdns")
	if code == 0 || !strings.Contains(errOut, "in use") {
		t.Fatalf("second daemon: exit %d, %s", code, errOut)
	}
}

// Two daemons chat through the CLI: B connects to A, both join, messages
// flow both ways, and `tail` shows what arrives.
func TestBinaryTwoDaemonsChat(t *testing.T) {
	a := startDaemon(t, "", "--name", "alice")
	var info struct{ Addrs []string }
	json.Unmarshal([]byte(mustCLI(t, "--data", a.dir, "--json", "id")), &info)
	b := startDaemon(t, "", "--name", "bob", "--peer", info.Addrs[0])
	mustCLI(t, "--data", a.dir, "join", "general")
	mustCLI(t, "--data", b.dir, "join", "general")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// tail replays from B's own last message, so it shows what arrives
	// after that whether its subscription is live before A sends or not.
	mark := strings.TrimSpace(mustCLI(t, "--data", b.dir, "send", "general", "bob is here"))
	tail := exec.CommandContext(ctx, parleyBin, "--data", b.dir, "tail", "general", "--since", mark)
	pipe, _ := tail.StdoutPipe()
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { tail.Process.Signal(syscall.SIGTERM); tail.Wait() }()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	mustCLI(t, "--data", a.dir, "send", "general", "hi bob")
	select {
	case l := <-lines:
		if !strings.Contains(l, "alice") || !strings.HasSuffix(l, ": hi bob") {
			t.Fatalf("tail printed %q", l)
		}
	case <-ctx.Done():
		t.Fatal("tail on B never showed A's message")
	}
	mustCLI(t, "--data", b.dir, "send", "general", "hi alice")
	testwait.ForEvery(t, 100*time.Millisecond, 20*time.Second, "B's message at A", func() bool {
		return strings.Contains(mustCLI(t, "--data", a.dir, "history", "general"), "hi alice")
	})
}
