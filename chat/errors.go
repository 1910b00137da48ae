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
	case errors.Is(err, ledger.ErrNotDurable), errors.Is(err, ledger.ErrClosed), errors.Is(err, ledger.ErrRefused),
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
	// ErrInviteOnly is returned when joining, by its ID, a private room
	// this node is not a member of, or a room no reachable peer serves to
	// it (members serve a private room to members only): private rooms
	// are joined with an invite token (JoinInvite).
	ErrInviteOnly = errors.New("private room: joined by invite only")
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
	// ErrNoAdmins is returned when moderating a room found by name: it
	// has no owner, so nobody can ban in it.
	ErrNoAdmins = errors.New("room has no admins")
	// ErrNotAdmin is returned when a moderation act's author is not an
	// admin (now, or in the act's causal past).
	ErrNotAdmin = errors.New("not an admin of the room")
	// ErrNotAllowed is returned when an event's author may not write in a
	// moderated room: banned, or not admitted under the members policy.
	ErrNotAllowed = errors.New("not allowed to write in the room")
	// ErrNotGenesis is returned for a root of a moderated room that is not
	// its genesis (a create event whose author and name derive the ID).
	ErrNotGenesis = errors.New("not the room's genesis")
	// ErrBadModeration is returned (wrapped with the reason) for a
	// moderation act or create body that breaks the format.
	ErrBadModeration = errors.New("invalid moderation act")
	// ErrPrivateRooms is returned for private rooms on a service without
	// Config.Keys.
	ErrPrivateRooms = errors.New("private rooms are not supported yet")
	// ErrNoEpochKeys is returned when sending to a private room whose
	// current key epoch does not include us, or whose keys have not
	// arrived yet.
	ErrNoEpochKeys = errors.New("no key for the room's current epoch")
	// ErrBadInvite is returned (wrapped with the reason) for an invite
	// that does not parse, is expired, or names another peer.
	ErrBadInvite = errors.New("invalid invite")
	// ErrInviteRevoked is returned (wrapped in ErrBadInvite) when an
	// invite an admin revoked is used, and wrapped in ErrNotAllowed for a
	// use event whose causal past holds the revocation.
	ErrInviteRevoked = errors.New("invite revoked")
	// ErrUnknownInvite is returned when revoking an invite ID that the
	// room holds no invite event for.
	ErrUnknownInvite = errors.New("unknown invite")
	// ErrClosed is returned after the service is closed.
	ErrClosed = errors.New("chat service closed")
)
