package node

import (
	"bufio"
	"context"
	"encoding/binary"
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

// AdmitProtocol carries a joiner's proof of an invite's secret to the
// inviter: request uvarint length ‖ signed invite ‖ uvarint length ‖
// proof; answer one byte, 0 admitted, 1 (refused) or 2 (the invite is
// revoked) then a short reason.
const AdmitProtocol protocol.ID = "/parley/e2ee-admit/1.0.0"

// admitTimeout bounds one admission: the inviter fetches the joiner's
// bundle and rekeys before answering.
const admitTimeout = time.Minute

// errAdmitRefused is wrapped around an inviter's refusal.
var errAdmitRefused = errors.New("inviter refused the invite")

// admission is the node's chat.Admission, and serves AdmitProtocol for
// invites this node made.
type admission struct {
	host  host.Host
	chat  *chat.Service
	guard *e2eeGuard
}

var _ chat.Admission = (*admission)(nil)

func newAdmission(h host.Host) *admission {
	return &admission{host: h, guard: newE2EEGuard(h, AdmitProtocol)}
}

func (a *admission) serve() {
	a.guard.serve(func(ctx context.Context, s network.Stream) error {
		r := bufio.NewReader(io.LimitReader(s, e2ee.MaxInviteSize+e2ee.SealedSecretSize+2*binary.MaxVarintLen64))
		inv, err1 := readField(r, e2ee.MaxInviteSize)
		proof, err2 := readField(r, e2ee.SealedSecretSize)
		if err := errors.Join(err1, err2); err != nil {
			return errMalformedRequest
		}
		return a.chat.AdmitByInvite(ctx, s.Conn().RemotePeer(), inv, proof)
	})
}

func readField(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(max) {
		return nil, fmt.Errorf("field of %d bytes: %v", n, err)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// Ask sends the proof to admin and waits for its answer.
func (a *admission) Ask(ctx context.Context, admin peer.ID, invite, proof []byte) error {
	ctx, cancel := context.WithTimeout(ctx, admitTimeout)
	defer cancel()
	s, err := a.host.NewStream(ctx, admin, AdmitProtocol)
	if err != nil {
		return fmt.Errorf("reach inviter %s: %w", admin, err)
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	msg := binary.AppendUvarint(nil, uint64(len(invite)))
	msg = append(msg, invite...)
	msg = binary.AppendUvarint(msg, uint64(len(proof)))
	msg = append(msg, proof...)
	if _, err := s.Write(msg); err != nil {
		return fmt.Errorf("send to inviter %s: %w", admin, err)
	}
	s.CloseWrite()
	if err := readAnswer(s, errAdmitRefused); err != nil {
		if errors.Is(err, errAdmitRefused) {
			return fmt.Errorf("%w: %w", chat.ErrBadInvite, err)
		}
		return fmt.Errorf("inviter %s: %w", admin, err)
	}
	return nil
}
