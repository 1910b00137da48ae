package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/p2p"
)

// Bounds of the private-room stream protocols (AdmitProtocol,
// DMProtocol) against a stranger opening them at will: each request may
// cost a bundle fetch, a rekey or a room join.
const (
	// e2eePerPeerRate and e2eePerPeerBurst: requests a peer may make per
	// protocol (an honest peer sends one per invite or conversation).
	e2eePerPeerRate  = rate.Limit(4.0 / 60) // 4 a minute
	e2eePerPeerBurst = 4
	// e2eeMaxRunning bounds the requests served at once per protocol;
	// more are refused (reset), not queued.
	e2eeMaxRunning = 4
	// e2eeMaxPeers bounds the per-peer limiters held: past it they are
	// dropped at once (a peer then starts with a full burst again, which
	// the running bound and the resource manager still cap).
	e2eeMaxPeers = 4096
)

// maxE2EEReason bounds the refusal text written and read back.
const maxE2EEReason = 512

// e2eeGuard serves one private-room stream protocol: per-peer rate
// limit, a bound on running requests, the resource manager's
// p2p.E2EEServiceName scope, and a context cancelled by close so that a
// pending request does not outlive the node.
type e2eeGuard struct {
	host  host.Host
	proto protocol.ID
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	run   chan struct{}

	mu     sync.Mutex
	closed bool
	peers  map[peer.ID]*rate.Limiter
}

func newE2EEGuard(h host.Host, proto protocol.ID) *e2eeGuard {
	g := &e2eeGuard{host: h, proto: proto, run: make(chan struct{}, e2eeMaxRunning), peers: map[peer.ID]*rate.Limiter{}}
	g.ctx, g.stop = context.WithCancel(context.Background())
	return g
}

// allow reports whether p is within its rate.
func (g *e2eeGuard) allow(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.peers[p]
	if !ok {
		if len(g.peers) >= e2eeMaxPeers {
			clear(g.peers)
		}
		l = rate.NewLimiter(e2eePerPeerRate, e2eePerPeerBurst)
		g.peers[p] = l
	}
	return l.Allow()
}

// serve sets the stream handler: handle gets the stream, already within
// the bounds, with its deadline set, and a context that ends with it or
// with close. The reply it returns is written (nil: admitted, else the
// refusal's text).
func (g *e2eeGuard) serve(handle func(ctx context.Context, s network.Stream) error) {
	g.host.SetStreamHandler(g.proto, func(s network.Stream) {
		if !g.allow(s.Conn().RemotePeer()) {
			_ = s.Reset()
			return
		}
		if err := s.Scope().SetService(p2p.E2EEServiceName); err != nil {
			_ = s.ResetWithError(network.StreamResourceLimitExceeded)
			return
		}
		select {
		case g.run <- struct{}{}:
		default:
			_ = s.Reset()
			return
		}
		defer func() { <-g.run }()
		if !g.enter() {
			_ = s.Reset()
			return
		}
		defer g.wg.Done()
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(admitTimeout))
		ctx, cancel := context.WithTimeout(g.ctx, admitTimeout)
		defer cancel()
		stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
		defer stop()
		err := handle(ctx, s)
		if errors.Is(err, errMalformedRequest) {
			_ = s.Reset()
			return
		}
		if _, err := s.Write(encodeAnswer(err)); err != nil {
			_ = s.Reset()
		}
	})
}

// enter counts a request in, unless closed (Add must not race Wait).
func (g *e2eeGuard) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// close stops serving, ends pending requests and waits for them.
// Idempotent.
func (g *e2eeGuard) close() {
	g.host.RemoveStreamHandler(g.proto)
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.stop()
	g.wg.Wait()
}

// errMalformedRequest makes the handler reset the stream rather than
// answer: the peer does not speak the protocol.
var errMalformedRequest = errors.New("malformed request")

// Answer bytes: a typed verdict, then (when refused) a short reason. A
// reader that knows only 0 and 1 takes any other non-zero byte as a
// refusal, so new verdicts need no new protocol version.
const (
	answerDone    = 0
	answerRefused = 1
	// answerRevoked refuses an invite an admin revoked
	// (chat.ErrInviteRevoked), so the joiner can tell it apart.
	answerRevoked = 2
)

// encodeAnswer is a request's answer: one byte, answerDone, or
// answerRefused or answerRevoked then a short reason.
func encodeAnswer(err error) []byte {
	if err == nil {
		return []byte{answerDone}
	}
	msg := err.Error()
	if len(msg) > maxE2EEReason {
		msg = msg[:maxE2EEReason]
	}
	verdict := byte(answerRefused)
	if errors.Is(err, chat.ErrInviteRevoked) {
		verdict = answerRevoked
	}
	return append([]byte{verdict}, msg...)
}

// readAnswer reads encodeAnswer's bytes: nil when done, refused wrapped
// around the reason when refused, another error when there was none.
func readAnswer(r io.Reader, refused error) error {
	ans, err := io.ReadAll(io.LimitReader(r, 1+maxE2EEReason))
	if err != nil || len(ans) == 0 {
		return fmt.Errorf("no answer: %v", err)
	}
	switch ans[0] {
	case answerDone:
		return nil
	case answerRevoked:
		return fmt.Errorf("%w: %w", refused, chat.ErrInviteRevoked) // the reason says no more
	}
	return fmt.Errorf("%w: %s", refused, ans[1:])
}
