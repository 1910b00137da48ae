package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
)

// DMProtocol hands a new direct conversation to its other member: the
// request is the invite token's text (it names the receiver and is signed
// by the sender, chat.AcceptDM checks both), the answer one byte, 0
// joined, 1 then a short reason.
const DMProtocol protocol.ID = "/parley/e2ee-dm/1.0.0"

// maxDMToken bounds a token's text (base64 of e2ee.MaxTokenSize bytes).
const maxDMToken = (e2ee.MaxTokenSize*4 + 2) / 3

// dmDelivery is the node's chat.DMDelivery and serves DMProtocol.
type dmDelivery struct {
	host  host.Host
	chat  *chat.Service
	guard *e2eeGuard
}

var _ chat.DMDelivery = (*dmDelivery)(nil)

func newDMDelivery(h host.Host) *dmDelivery {
	return &dmDelivery{host: h, guard: newE2EEGuard(h, DMProtocol)}
}

func (d *dmDelivery) serve() {
	d.guard.serve(func(ctx context.Context, s network.Stream) error {
		tok, err := io.ReadAll(io.LimitReader(s, maxDMToken+1))
		if err != nil || len(tok) > maxDMToken {
			return errMalformedRequest
		}
		_, err = d.chat.AcceptDM(ctx, s.Conn().RemotePeer(), string(tok))
		return err
	})
}

// Deliver hands token to peer to and waits for it to join.
func (d *dmDelivery) Deliver(ctx context.Context, to peer.ID, token string) error {
	ctx, cancel := context.WithTimeout(ctx, admitTimeout)
	defer cancel()
	s, err := d.host.NewStream(ctx, to, DMProtocol)
	if err != nil {
		return fmt.Errorf("reach %s: %w", to, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := io.WriteString(s, token); err != nil {
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
