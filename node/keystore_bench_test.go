package node

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkUnlockKey measures LoadKeys of a protected identity: the time
// a daemon start spends on the passphrase. "default" is what init
// --passphrase writes; "ceiling" is the most a key file may ask for
// (an attacker-written header costs at most this).
func BenchmarkUnlockKey(b *testing.B) {
	for _, c := range []struct {
		name string
		p    KDFParams
	}{
		{"default", DefaultKDFParams()},
		{"ceiling", KDFParams{Time: maxKDFTime, MemoryKiB: maxKDFMemoryKiB, Threads: maxKDFThreads}},
	} {
		b.Run(fmt.Sprintf("%s/t=%d,m=%dMiB,p=%d", c.name, c.p.Time, c.p.MemoryKiB>>10, c.p.Threads), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), KeyFile)
			if _, _, err := ProtectKeys(path, []byte("bench"), c.p); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := LoadKeys(path, pass("bench")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
