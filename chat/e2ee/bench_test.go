package e2ee

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// The benchmarks sign and verify with curve25519-voi, as ledger events
// are signed and verified (ledger/signature.go), over a payload shaped
// like an event's: ~100 bytes of header, then the body. A private
// message's body is its ciphertext; a public one's, the text.

// 60 B is a chat line; 1,000 B pads to 1 KiB; 4,096 B is the worst case
// of padding, just past a power of two, so it pads to 8 KiB.
var benchSizes = []int{60, 1000, 4096}

// cpuMeter reports the CPU time of the timed parts of a benchmark as
// cpu-ns/op (see threadCPU).
type cpuMeter struct {
	b     *testing.B
	total time.Duration
	at    time.Duration
	ok    bool
}

func newCPUMeter(b *testing.B) *cpuMeter {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	return &cpuMeter{b: b}
}

func (m *cpuMeter) start() { m.at, m.ok = threadCPU() }

func (m *cpuMeter) stop() {
	if now, ok := threadCPU(); ok && m.ok {
		m.total += now - m.at
	}
}

func (m *cpuMeter) report(n int) {
	if m.ok && n > 0 {
		m.b.ReportMetric(float64(m.total.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}

// loop runs f as the timed loop and reports its CPU time per op.
func loop(b *testing.B, f func()) {
	m := newCPUMeter(b)
	n := 0
	m.start()
	for b.Loop() {
		f()
		n++
	}
	m.stop()
	m.report(n)
}

func benchSigner(b *testing.B) (ed25519.PrivateKey, ed25519.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	return priv, pub
}

var benchHeader = bytes.Repeat([]byte{'h'}, 100)

func eventBytes(body []byte) []byte { return append(append([]byte(nil), benchHeader...), body...) }

var benchVerify = &ed25519.Options{Verify: ed25519.VerifyOptionsDefault}

func BenchmarkMessage(b *testing.B) {
	priv, pub := benchSigner(b)
	a := newPerson(b, 1)
	for _, size := range benchSizes {
		text := bytes.Repeat([]byte{'x'}, size)
		b.Run(fmt.Sprintf("public-sign/%dB", size), func(b *testing.B) {
			loop(b, func() { ed25519.Sign(priv, eventBytes(text)) })
		})
		b.Run(fmt.Sprintf("private-encrypt-sign/%dB", size), func(b *testing.B) {
			keys, err := NewEpochKeys(testEpoch(), fixedSecret(), []peer.ID{a.id})
			if err != nil {
				b.Fatal(err)
			}
			loop(b, func() {
				ct, err := keys.Seal(a.id, "msg", text)
				if err != nil {
					b.Fatal(err)
				}
				ed25519.Sign(priv, eventBytes(ct))
			})
		})
		signed := eventBytes(text)
		sig := ed25519.Sign(priv, signed)
		b.Run(fmt.Sprintf("public-verify/%dB", size), func(b *testing.B) {
			loop(b, func() {
				if !ed25519.VerifyWithOptions(pub, signed, sig, benchVerify) {
					b.Fatal("bad signature")
				}
			})
		})
		b.Run(fmt.Sprintf("private-verify-decrypt/%dB", size), func(b *testing.B) {
			send, err := NewEpochKeys(testEpoch(), fixedSecret(), []peer.ID{a.id})
			if err != nil {
				b.Fatal(err)
			}
			recv, err := NewEpochKeys(testEpoch(), fixedSecret(), []peer.ID{a.id})
			if err != nil {
				b.Fatal(err)
			}
			// Receivers open in order; ciphertexts are made in untimed
			// batches.
			const batch = 1024
			var evs, sigs, cts [][]byte
			m := newCPUMeter(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					b.StopTimer()
					if i > 0 {
						m.stop()
					}
					evs, sigs, cts = evs[:0], sigs[:0], cts[:0]
					for range min(batch, b.N-i) {
						ct, err := send.Seal(a.id, "msg", text)
						if err != nil {
							b.Fatal(err)
						}
						ev := eventBytes(ct)
						evs, sigs, cts = append(evs, ev), append(sigs, ed25519.Sign(priv, ev)), append(cts, ct)
					}
					m.start()
					b.StartTimer()
				}
				k := i % batch
				if !ed25519.VerifyWithOptions(pub, evs[k], sigs[k], benchVerify) {
					b.Fatal("bad signature")
				}
				if _, err := recv.Open(a.id, cts[k]); err != nil {
					b.Fatal(err)
				}
			}
			m.stop()
			m.report(b.N)
		})
	}
}

// BenchmarkRekey seals a fresh epoch secret to every member of a room:
// what the admin who starts an epoch does. sealed-B/op is the sealed
// secrets alone; each epoch_keys entry also names its member and bundle.
func BenchmarkRekey(b *testing.B) {
	for _, n := range []int{10, 100} {
		members := make([]*SignedBundle, n)
		for i := range members {
			members[i] = newPerson(b, byte(i)).bundle
		}
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			var total int
			loop(b, func() {
				secret := NewEpochSecret()
				total = 0
				for _, m := range members {
					sealed, err := SealEpochSecret(m, testEpoch(), secret, t0)
					if err != nil {
						b.Fatal(err)
					}
					total += len(sealed)
				}
				clear(secret)
			})
			b.ReportMetric(float64(total), "sealed-B/op")
		})
	}
}

// BenchmarkOpenEpochSecret is a member's cost of receiving a rekey.
func BenchmarkOpenEpochSecret(b *testing.B) {
	a := newPerson(b, 1)
	sealed, err := SealEpochSecret(a.bundle, testEpoch(), fixedSecret(), t0)
	if err != nil {
		b.Fatal(err)
	}
	loop(b, func() {
		if _, err := OpenEpochSecret(a.kp, a.bundle, testEpoch(), sealed); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkOpenForgedFarIndex is the worst a ciphertext can cost a
// receiver: an index MaxSkip past the chain that then fails to
// authenticate, so the walk is redone every time.
func BenchmarkOpenForgedFarIndex(b *testing.B) {
	a := newPerson(b, 1)
	c, err := NewChain(testEpoch(), a.id, fixedSecret())
	if err != nil {
		b.Fatal(err)
	}
	ct := &Ciphertext{Epoch: testEpoch().ID, Index: MaxSkip, Nonce: make([]byte, NonceSize), Sealed: make([]byte, MinPadded+tagSize)}
	loop(b, func() {
		if _, err := c.Open(ct); err == nil {
			b.Fatal("a forged ciphertext opened")
		}
	})
}
