package chat

import (
	"context"
	"slices"
	"time"
)

// Weekly rekey of direct conversations (docs/PROTOCOL.md "Direct
// messages", docs/SECURITY.md "Forward secrecy"): a conversation's epoch
// changes only when its membership does, which for two members is never,
// so without this its chain keys would live as long as it does. A
// conversation whose current epoch is older than Config.DMRekeyInterval
// gets a new one, same two members, through the rekey of private rooms:
// before our next message there (Send), and from the hourly sweep if we
// created it (so an idle conversation rekeys too, once, not once per
// member). Either member may start a DM's epoch (judgeEpoch); the old
// epoch then ends, and EpochKeyRetention later erases its chain states
// (priverase.go).

// MinDMRekeyInterval is the least Config.DMRekeyInterval.
const MinDMRekeyInterval = time.Hour

// dmRekeyDue reports whether room is a direct conversation of us and one
// peer whose current epoch, sealed to exactly its members, started (by
// its event's claimed time) DMRekeyInterval ago or more. An epoch
// claiming to start more than an interval ahead of our clock is due too,
// so a peer's skewed clock cannot postpone rekeys for ever.
func (s *Service) dmRekeyDue(ctx context.Context, mr *modRoom, room string) bool {
	if !mr.isDM() {
		return false
	}
	epoch, members, _ := mr.currentEpoch()
	if epoch == "" || len(members) != 2 || !containsPeer(members, s.self) || !slices.Equal(members, mr.members()) {
		return false
	}
	ev, err := s.led.Get(ctx, room, epoch)
	if err != nil {
		return false
	}
	age := s.cfg.Clock().Sub(time.UnixMilli(ev.Time))
	return age >= s.cfg.DMRekeyInterval || age <= -s.cfg.DMRekeyInterval
}

// rekeyDMIfDue starts a new epoch in direct conversation room if it is
// due (dmRekeyDue). A failure (the peer's bundle unknown or expired, say)
// is returned; the caller may still send under the current epoch.
func (s *Service) rekeyDMIfDue(ctx context.Context, mr *modRoom, room string) error {
	if !s.dmRekeyDue(ctx, mr, room) {
		return nil
	}
	p := s.privRoom(room)
	p.rekey.Lock()
	defer p.rekey.Unlock()
	if !s.dmRekeyDue(ctx, mr, room) {
		return nil // another send's rekey came first
	}
	if err := s.rekey(ctx, mr, room, ""); err != nil {
		return err
	}
	s.log.Info("direct conversation rekeyed", "room", room)
	return nil
}

// beforeSend runs before a message of ours is sealed into private room
// mr: a due direct conversation is rekeyed first. If that fails the
// message goes under the current epoch (and the next send tries again):
// a conversation does not stop because a bundle is late.
func (s *Service) beforeSend(ctx context.Context, mr *modRoom, room string) {
	if err := s.rekeyDMIfDue(ctx, mr, room); err != nil && ctx.Err() == nil {
		s.log.Warn("rekey direct conversation", "room", room, "err", err)
	}
}

// rekeyDueDMs rekeys the due direct conversations we created; the sweep
// loop calls it hourly.
func (s *Service) rekeyDueDMs(ctx context.Context) {
	if s.cfg.Keys == nil {
		return
	}
	s.mu.Lock()
	var ids []string
	for id, j := range s.rooms {
		if j.Moderated {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		mr := s.modRoom(id)
		if mr == nil || !mr.isDM() || mr.creatorID() != s.self {
			continue
		}
		if err := s.rekeyDMIfDue(ctx, mr, id); err != nil && ctx.Err() == nil {
			// Typically the peer's bundle is unknown while it is away:
			// retried hourly, and by our next send, so not a warning.
			s.log.Info("rekey direct conversation", "room", id, "err", err)
		}
	}
}
