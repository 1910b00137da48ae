package chat

import (
	"context"
)

// publishQueue is how many of our committed events a room holds for its
// publisher before new sends wait: the network is far slower than the disk
// only when something is wrong, and a sender should feel it rather than
// the node buffering without bound. The queue never drops an event (the
// ledger's commit goroutine must not block, and a dropped event would
// reach members only by sync).
const publishQueue = 4096

// publish sends our own committed events to the room's topic in commit
// order, so members receive parents before children and need no sync.
func (s *Service) publish(ctx context.Context, j *joined) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.pubq.ready:
		}
		for _, ev := range j.pubq.take(0) {
			var err error
			if rt, ok := j.topic.(*roomTopic); ok {
				err = rt.publishEvent(ctx, ev) // a private room's epoch topics
			} else {
				err = j.topic.Publish(ctx, ev.Raw())
			}
			if err != nil && ctx.Err() == nil {
				s.log.Debug("publish", "room", j.ID, "err", err)
			}
		}
	}
}
