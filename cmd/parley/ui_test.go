package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The daemon prints the chat page's link, `parley ui --no-open` prints the
// same one, and the page it names is served. The test never opens a
// browser: --no-open.
func TestUIPrintsLink(t *testing.T) {
	d := startDaemon(t, "")
	addr, err := os.ReadFile(filepath.Join(d.dir, "rpc.addr"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(d.dir, "rpc.token"))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(strings.TrimSpace(string(addr)), "/rpc")
	want := base + "/#token=" + strings.TrimSpace(string(token))

	if got := strings.TrimSpace(mustCLI(t, "--data", d.dir, "ui", "--no-open")); got != want {
		t.Fatalf("parley ui printed %q, want %q", got, want)
	}
	if got := mustCLI(t, "--data", d.dir, "--json", "ui", "--no-open"); got != `{"url":"`+want+`"}`+"\n" {
		t.Fatalf("parley --json ui printed %q", got)
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<title>Parley</title>") {
		t.Fatalf("GET %s/: status %d, body %.100q", base, resp.StatusCode, body)
	}

	d.stop(t) // the output buffer is complete (and no longer written) once the process is gone
	if !strings.Contains(d.out.String(), "\nui "+want+"\n") {
		t.Fatalf("daemon output lacks the ui link %q:\n%s", want, d.out)
	}
}

func TestUIWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "--data", dir, "init")
	_, errOut, code := runCLI(t, "--data", dir, "ui", "--no-open")
	if code != exitError || !strings.Contains(errOut, "parley daemon --data") {
		t.Fatalf("exit %d, stderr %q; want exit %d naming how to start the daemon", code, errOut, exitError)
	}
}

func TestOpener(t *testing.T) {
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	tests := []struct {
		name     string
		goos     string
		env      map[string]string
		look     func(string) (string, error)
		wantName string
		wantArgs []string
	}{
		{"macOS", "darwin", nil, found, "/usr/bin/open", nil},
		{"windows", "windows", nil, found, "/usr/bin/rundll32", []string{"url.dll,FileProtocolHandler"}},
		{"linux desktop", "linux", map[string]string{"DISPLAY": ":0"}, found, "/usr/bin/xdg-open", nil},
		{"wayland", "freebsd", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, found, "/usr/bin/xdg-open", nil},
		{"headless linux", "linux", nil, found, "", nil},
		{"no xdg-open", "linux", map[string]string{"DISPLAY": ":0"}, missing, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, args, ok := opener(tt.goos, env(tt.env), tt.look)
			if ok != (tt.wantName != "") || name != tt.wantName || strings.Join(args, " ") != strings.Join(tt.wantArgs, " ") {
				t.Fatalf("opener = %q %q %v, want %q %q", name, args, ok, tt.wantName, tt.wantArgs)
			}
		})
	}
}
