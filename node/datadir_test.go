package node

import (
	"path/filepath"
	"testing"
)

// The resolver is a pure function of the OS, the environment and the home
// directory, so every OS's rule runs here whatever the test machine is.
func TestResolveDataDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	const home = "/home/ada"
	for _, tc := range []struct {
		name, flag, goos string
		getenv           func(string) string
		home             string
		want             string // "" means an error
	}{
		{"flag first", "/srv/p", "linux", env(EnvDataDir, "/env/p"), home, "/srv/p"},
		{"flag first on windows", `D:\p`, "windows", env(EnvDataDir, `E:\p`, "LOCALAPPDATA", `C:\L`), home, `D:\p`},
		{"env second", "", "darwin", env(EnvDataDir, "/env/p"), home, "/env/p"},
		{"env second on windows", "", "windows", env(EnvDataDir, `E:\p`, "LOCALAPPDATA", `C:\L`), home, `E:\p`},
		{"linux", "", "linux", env(), home, filepath.Join(home, ".parley")},
		{"freebsd", "", "freebsd", env(), home, filepath.Join(home, ".parley")},
		{"openbsd", "", "openbsd", env(), home, filepath.Join(home, ".parley")},
		{"darwin", "", "darwin", env(), home, filepath.Join(home, "Library", "Application Support", "Parley")},
		{"windows", "", "windows", env("LOCALAPPDATA", `C:\Users\ada\AppData\Local`), `C:\Users\ada`, filepath.Join(`C:\Users\ada\AppData\Local`, "Parley")},
		{"windows without LOCALAPPDATA", "", "windows", env(), `C:\Users\ada`, filepath.Join(`C:\Users\ada`, "AppData", "Local", "Parley")},
		{"windows without home", "", "windows", env("LOCALAPPDATA", `C:\L`), "", filepath.Join(`C:\L`, "Parley")},
		{"no home", "", "linux", env(), "", ""},
		{"no home on darwin", "", "darwin", env(), "", ""},
		{"no home nor LOCALAPPDATA", "", "windows", env(), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveDataDir(tc.flag, tc.goos, tc.getenv, tc.home)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
