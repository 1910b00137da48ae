package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
)

// DMProtocol hands a direct conversation's first message to its
// recipient: the request is an encoded e2ee.DMInit (signed by its
// sender and naming the recipient; chat.AcceptDM checks both and every
// other binding), the answer one byte, 0 taken (or taken before), 1 then
// a short reason. Version 2: version 1 carried an invite token.
const DMProtocol protocol.ID = "/parley/e2ee-dm/2.0.0"

// dmDialTimeout bounds reaching a recipient that is not connected: an
// offline one is the common case, and what fails stays queued.
const dmDialTimeout = 5 * time.Second

// dmDelivery is the node's chat.DMDelivery and serves DMProtocol.
type dmDelivery struct {
	host  host.Host
	chat  *chat.Service
	guard *e2eeGuard
	// failed, if set, is told of a hand-over that did not reach its
	// peer (the inbox advertises the conversation).
	failed func()
}

var _ chat.DMDelivery = (*dmDelivery)(nil)

func newDMDelivery(h host.Host) *dmDelivery {
	return &dmDelivery{host: h, guard: newE2EEGuard(h, DMProtocol)}
}

func (d *dmDelivery) serve() {
	d.guard.serve(func(ctx context.Context, s network.Stream) error {
		init, err := io.ReadAll(io.LimitReader(s, e2ee.MaxDMInitSize+1))
		if err != nil || len(init) > e2ee.MaxDMInitSize {
			return errMalformedRequest
		}
		if _, err = d.chat.AcceptDM(ctx, init); errors.Is(err, chat.ErrDMInitSeen) {
			return nil // handed over before (by an inbox, say)
		}
		return err
	})
}

// Deliver hands init to peer to and waits for it to take it.
func (d *dmDelivery) Deliver(ctx context.Context, to peer.ID, init []byte) error {
	err := d.deliver(ctx, to, init)
	if err != nil && d.failed != nil {
		d.failed()
	}
	return err
}

func (d *dmDelivery) deliver(ctx context.Context, to peer.ID, init []byte) error {
	ctx, cancel := context.WithTimeout(ctx, admitTimeout)
	defer cancel()
	if d.host.Network().Connectedness(to) != network.Connected {
		dctx, dcancel := context.WithTimeout(ctx, dmDialTimeout)
		err := d.host.Connect(dctx, peer.AddrInfo{ID: to})
		dcancel()
		if err != nil {
			return fmt.Errorf("reach %s: %w", to, err)
		}
	}
	s, err := d.host.NewStream(ctx, to, DMProtocol)
	if err != nil {
		return fmt.Errorf("reach %s: %w", to, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := s.Write(init); err != nil {
		return fmt.Errorf("send to %s: %w", to, err)
	}
	s.CloseWrite()
	if err := readAnswer(s, errDMRefused); err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	return nil
}

// errDMRefused is wrapped around a peer's refusal of a conversation.
var errDMRefused = errors.New("peer refused the conversation")
