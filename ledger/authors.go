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
// event in room. Gossip asks on a validation worker, so HasAuthor never
// loads a room (a first load after an upgrade scans every key of it) and
// never takes the room's lock: a loaded room answers under its authors'
// own lock; a room not loaded, or still loading, from the author index
// in the datastore, which holds every author a load would find.
func (l *Ledger) HasAuthor(ctx context.Context, room string, author peer.ID) (bool, error) {
	if l.isClosed() {
		return false, ErrClosed
	}
	if ok, ready := l.authorInMemory(room, author); ready {
		return ok, nil
	}
	ok, err := l.ds.Has(ctx, ds.RawKey(authorIndexKey(room, author)))
	if err != nil {
		return false, fmt.Errorf("look up author %s in %s: %w", author, room, err)
	}
	if ok {
		return true, nil
	}
	// The room may have loaded and staged the author's first event
	// (not yet on disk) while the datastore was read.
	ok, _ = l.authorInMemory(room, author)
	return ok, nil
}

// authorInMemory looks author up in room's in-memory authors; ready is
// false when the room is not loaded (or was dropped), so only the
// datastore can tell.
func (l *Ledger) authorInMemory(room string, author peer.ID) (ok, ready bool) {
	st := l.loadedRoom(room)
	if st == nil {
		return false, false
	}
	st.authMu.Lock()
	defer st.authMu.Unlock()
	if !st.authorsLoaded {
		return false, false
	}
	_, ok = st.authors[author]
	return ok, true
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
