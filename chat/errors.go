package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/ledger"
)

// storeErr marks an error of the ledger as a storage failure, unless it
// already says something more specific: the write was stored but not
// synced, the service is closing, or the caller gave up.
func storeErr(err error) error {
	switch {
	case errors.Is(err, ledger.ErrNotDurable), errors.Is(err, ledger.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

// Errors returned by Service. rpc maps them to JSON-RPC error codes.
var (
	// ErrUnknownRoom is returned when a room ID or name matches no room we know.
	ErrUnknownRoom = errors.New("unknown room")
	// ErrNotMember is returned when sending to a room that is not joined.
	ErrNotMember = errors.New("not a member of the room")
	// ErrInvalidName is returned for a room name that breaks the naming rules.
	ErrInvalidName = errors.New("invalid room name")
	// ErrTooLarge is returned when a message exceeds MaxTextBytes.
	ErrTooLarge = errors.New("message too large")
	// ErrEmptyMessage is returned when a message has no text.
	ErrEmptyMessage = errors.New("message is empty")
	// ErrInvalidText is returned when a message's text is not valid UTF-8.
	ErrInvalidText = errors.New("message text is not valid UTF-8")
	// ErrBadCursor is returned when a cursor or message ID cannot be parsed
	// or found.
	ErrBadCursor = errors.New("invalid cursor")
	// ErrNotDurable is returned (wrapped) by Send when the message was
	// stored and sent to the room, but the disk did not confirm it: it
	// may be lost here in a power cut. Sending it again would post it
	// twice.
	ErrNotDurable = ledger.ErrNotDurable
	// ErrStorage is wrapped around failures of the node's own store
	// (reading or writing the ledger), as opposed to bad input.
	ErrStorage = errors.New("storage failure")
	// ErrClosed is returned after the service is closed.
	ErrClosed = errors.New("chat service closed")
)
