package chat

import (
	"context"
	"errors"
	"sync"
)

// errGone is waitRoom's answer when the room's worker stopped (left).
var errGone = errors.New("room left")

// roomQueue hands items of one room from producers to the room's worker,
// in order. push never blocks and never drops; producers that can wait
// call waitRoom first, which returns once fewer than limit items are
// queued, so the queue exceeds limit only by the producers that passed
// the check together (or by pushes that must not wait). Producers that
// can neither wait nor exceed limit use tryPush. Its memory follows
// what is queued (the array goes once the queue is drained): a node in
// many quiet rooms keeps no buffers.
type roomQueue[T any] struct {
	limit int
	mu    sync.Mutex
	items []T
	ready chan struct{} // signalled when items are added
	space chan struct{} // closed (and replaced) when items are taken
}

func newRoomQueue[T any](limit int) *roomQueue[T] {
	return &roomQueue[T]{limit: limit, ready: make(chan struct{}, 1), space: make(chan struct{})}
}

// push queues v without blocking.
func (q *roomQueue[T]) push(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.signal()
}

// signal wakes the worker if it is not already due to wake.
func (q *roomQueue[T]) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// tryPush queues v unless limit items are queued, without blocking, and
// reports whether it did.
func (q *roomQueue[T]) tryPush(v T) bool {
	q.mu.Lock()
	if len(q.items) >= q.limit {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.signal()
	return true
}

// take returns up to limit of the oldest items (all of them if limit <= 0),
// oldest first, and wakes waiting producers.
func (q *roomQueue[T]) take(limit int) []T {
	q.mu.Lock()
	items := q.items
	if limit > 0 && len(items) > limit {
		items, q.items = items[:limit:limit], items[limit:]
	} else {
		q.items = nil // let a burst's array go
	}
	if len(items) > 0 {
		close(q.space)
		q.space = make(chan struct{})
	}
	q.mu.Unlock()
	return items
}

// waitRoom returns once the queue has room, or with ctx's error, or with
// errGone when done is closed (the room was left).
func (q *roomQueue[T]) waitRoom(ctx context.Context, done <-chan struct{}) error {
	for {
		q.mu.Lock()
		if len(q.items) < q.limit {
			q.mu.Unlock()
			return nil
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-done:
			return errGone
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
