package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/p2p"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// syncStore lets the syncer read the ledger, list joined rooms and store
// what it fetches through chat, so subscribers see synced messages exactly
// like gossiped ones.
type syncStore struct{ svc *chat.Service }

var (
	_ ledgersync.Store   = syncStore{}
	_ ledgersync.Blocker = (*p2p.Node)(nil) // Config.Blocker: the node's gater
)

// allowSync is the syncer's access rule (ledgersync.Config.Allow), wired
// in by New: whether p may sync room with us. Chat answers: a private
// room's members only (chat.Service.MayRead); a refused peer is answered
// as for a room we do not hold and is never sent a Hello for it.
func (s syncStore) allowSync(room string, p peer.ID) bool { return s.svc.MayRead(room, p) }

func (s syncStore) Rooms(ctx context.Context) ([]string, error) {
	rs, err := s.svc.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids, nil
}

func (s syncStore) Ledger() *ledger.Ledger { return s.svc.Ledger() }

// Ingest stores through chat; over the room's newcomer budget it tells
// the syncer ErrLimit, which ends the session (what it would pull next
// would be dropped too) and retries later with backoff, not blame.
func (s syncStore) Ingest(ctx context.Context, room string, evs []*ledger.Event) ([]*ledger.Event, []ledger.Rejection, error) {
	added, rejected, err := s.svc.Ingest(ctx, room, evs)
	if errors.Is(err, chat.ErrRateLimited) {
		err = fmt.Errorf("%w: %w", ledgersync.ErrLimit, err)
	}
	return added, rejected, err
}
