package chat

import (
	"context"
	"errors"
	"sync"
)

// errGone is waitRoom's answer when the room's worker stopped (left).
var errGone = errors.New("room left")

// publishQueue is how many of our committed events a room holds for its
// publisher before new sends wait: the network is far slower than the disk
// only when something is wrong, and a sender should feel it rather than
// the node buffering without bound.
const publishQueue = 4096

// pubQueue holds our committed events of one room, in commit order, until
// the room's publisher hands them to the topic. It never drops an event
// (the ledger's commit goroutine must not block, and a dropped event would
// reach members only by sync). Senders wait in waitRoom while it is full,
// so it exceeds publishQueue only by the senders that passed the check
// together.
type pubQueue struct {
	mu    sync.Mutex
	items [][]byte
	ready chan struct{} // signalled when items are added
	space chan struct{} // closed (and replaced) when items are taken
}

func newPubQueue() *pubQueue {
	return &pubQueue{ready: make(chan struct{}, 1), space: make(chan struct{})}
}

// push queues raw without blocking.
func (q *pubQueue) push(raw []byte) {
	q.mu.Lock()
	q.items = append(q.items, raw)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take returns everything queued, oldest first, and wakes waiting senders.
func (q *pubQueue) take() [][]byte {
	q.mu.Lock()
	items := q.items
	q.items = nil
	if len(items) > 0 {
		close(q.space)
		q.space = make(chan struct{})
	}
	q.mu.Unlock()
	return items
}

// waitRoom returns once the queue has room, or with ctx's error, or with
// errGone when done is closed (the room was left).
func (q *pubQueue) waitRoom(ctx context.Context, done <-chan struct{}) error {
	for {
		q.mu.Lock()
		if len(q.items) < publishQueue {
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

// publish sends our own committed events to the room's topic in commit
// order, so members receive parents before children and need no sync.
func (s *Service) publish(ctx context.Context, j *joined) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.pubq.ready:
		}
		for _, raw := range j.pubq.take() {
			if err := j.topic.Publish(ctx, raw); err != nil && ctx.Err() == nil {
				s.log.Debug("publish", "room", j.ID, "err", err)
			}
		}
	}
}
