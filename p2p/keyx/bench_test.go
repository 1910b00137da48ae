package keyx

import "testing"

// BenchmarkFetch: one whole exchange between two real hosts on
// 127.0.0.1 (new stream, request byte, reply, the tests' Verify), and the
// reply's size.
func BenchmarkFetch(b *testing.B) {
	srv, own := startService(b, true, nil)
	asker, _ := startService(b, false, nil)
	srv.served = newWindowCounter(srv.cfg.ServeWindow)
	srv.cfg.ServeBurst = 1 << 30
	connectHosts(b, asker.h, srv.h)
	for b.Loop() {
		if _, err := asker.Fetch(b.Context(), srv.h.ID()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(encodeReply(own))), "reply-bytes")
}
