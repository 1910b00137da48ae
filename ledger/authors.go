package ledger

import (
	"context"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A room's authors: everyone with an accepted event in it, kept in memory
// per loaded room and stored under /r/<room>/a/<author> with the author's
// first event. Chat gives authors not yet in it one room-wide budget
// (issue 18: strangers cannot flood an open room with fresh identities).
// Rooms stored before this index list only authors whose first event
// since arrived, so an older author counts once more as new.

func authorIndexKey(room string, author peer.ID) string {
	return "/r/" + room + "/a/" + author.String()
}

// HasAuthor reports whether author has an accepted (stored or queued)
// event in room. It loads the room if it is not in memory; a loaded
// room answers under its authors' own lock, so a gossip validator never
// waits behind a write's datastore reads.
func (l *Ledger) HasAuthor(ctx context.Context, room string, author peer.ID) (bool, error) {
	if l.isClosed() {
		return false, ErrClosed
	}
	st := l.loadedRoom(room)
	if st == nil || !st.authorsReady() {
		var err error
		if st, err = l.lockRoom(ctx, room); err != nil {
			return false, err
		}
		st.mu.Unlock()
	}
	st.authMu.Lock()
	_, ok := st.authors[author]
	st.authMu.Unlock()
	return ok, nil
}

// authorsReady reports whether st's authors are loaded and current.
func (st *roomState) authorsReady() bool {
	st.authMu.Lock()
	defer st.authMu.Unlock()
	return st.authorsLoaded
}

// stageAuthor records ev's author with its first event. st.mu must be
// held.
func stageAuthor(req *writeReq, st *roomState, ev *Event) {
	st.authMu.Lock()
	_, ok := st.authors[ev.Author]
	if !ok {
		st.authors[ev.Author] = struct{}{}
	}
	st.authMu.Unlock()
	if ok {
		return
	}
	req.batch = append(req.batch, op{key: ds.RawKey(authorIndexKey(st.name, ev.Author)), value: []byte{}})
}

// loadAuthors reads room's authors in one prefix query.
func (l *Ledger) loadAuthors(ctx context.Context, room string) (map[peer.ID]struct{}, error) {
	authors := make(map[peer.ID]struct{})
	err := runQuery(ctx, l.ds, query.Query{Prefix: roomPrefix(room) + "/a", KeysOnly: true}, func(key string, _ []byte) (bool, error) {
		a, err := peer.Decode(ds.RawKey(key).BaseNamespace())
		if err != nil {
			return false, err
		}
		authors[a] = struct{}{}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load authors of %s: %w", room, err)
	}
	return authors, nil
}
