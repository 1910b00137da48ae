package ledger

import "errors"

var (
	// ErrInvalidEvent is returned (wrapped with the reason) when event bytes
	// or fields break the format: bad encoding, signature, size or fields.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrWrongRoom is returned when an event is offered to a room it does not belong to.
	ErrWrongRoom = errors.New("event belongs to another room")
	// ErrMissingParents is returned when an event's parents are not stored
	// yet. The event is valid in itself and may be retried once the parents
	// arrive (by sync); see MissingParentsError for which ones.
	ErrMissingParents = errors.New("parent events not stored")
	// ErrBadParents is returned when an event's parents are stored but do
	// not fit it (its Lamport clock is not one more than theirs).
	ErrBadParents = errors.New("event does not fit its parents")
	// ErrRefused is returned (wrapped with the reason) when Config.Check
	// refuses an event: valid in itself, but not allowed by its room's
	// rules (in chat: moderation). It is local judgement, not proof that
	// whoever relayed the event misbehaved.
	ErrRefused = errors.New("event refused by the room's rules")
	// ErrNotFound is returned when an event is not in the ledger.
	ErrNotFound = errors.New("event not found")
	// ErrNotDurable is returned (wrapped with the cause) by Append when the
	// event was written, is readable and was handed to OnApplied (so it
	// may have been published), but the fsync that makes it durable
	// failed: a power cut may lose it. Retrying would create a second
	// event.
	ErrNotDurable = errors.New("event stored but not flushed to disk")
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("ledger closed")
)

// MissingParentsError lists the parents an event is waiting for. It matches
// ErrMissingParents with errors.Is.
type MissingParentsError struct {
	Event   ID
	Missing []ID
}

func (e *MissingParentsError) Error() string {
	return "event " + e.Event.String() + ": " + ErrMissingParents.Error()
}

// Is reports whether target is ErrMissingParents.
func (e *MissingParentsError) Is(target error) bool { return target == ErrMissingParents }
