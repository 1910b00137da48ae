package rpc

import (
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc/api"
	"time"
)

// The one place where domain values become wire types. Each function copies
// field by field, so a field added to a domain type stays out of the API
// until it is added here and to package api; slices keep their nil-ness
// (a nil Parents is JSON null, as before), and the handlers decide where an
// empty list is [] rather than null.

func toMessage(m chat.Message) api.Message {
	return api.Message{
		ID:         m.ID,
		Room:       m.Room,
		Author:     m.Author,
		AuthorName: m.AuthorName,
		Text:       m.Text,
		Time:       m.Time,
		Lamport:    m.Lamport,
		Parents:    m.Parents,
		Cursor:     m.Cursor,
	}
}

func toMessages(ms []chat.Message) []api.Message {
	if ms == nil {
		return nil
	}
	out := make([]api.Message, len(ms))
	for i, m := range ms {
		out[i] = toMessage(m)
	}
	return out
}

func toRoom(r chat.Room) api.Room {
	return api.Room{ID: r.ID, Name: r.Name, Private: r.Private, Moderated: r.Moderated, Policy: r.Policy, Kind: r.Kind}
}

func toRooms(rs []chat.Room) []api.Room {
	if rs == nil {
		return nil
	}
	out := make([]api.Room, len(rs))
	for i, r := range rs {
		out[i] = toRoom(r)
	}
	return out
}

func toMembers(ms []chat.Member) []api.Member {
	if ms == nil {
		return nil
	}
	out := make([]api.Member, len(ms))
	for i, m := range ms {
		out[i] = api.Member{PeerID: m.PeerID, Name: m.Name, LastSeen: m.LastSeen, State: m.State}
	}
	return out
}

func toInvites(is []chat.InviteInfo) []api.Invite {
	out := make([]api.Invite, len(is))
	for i, v := range is {
		out[i] = api.Invite{ID: v.ID, Inviter: v.Inviter.String(), MaxUses: v.MaxUses, Uses: v.Uses, Revoked: v.Revoked}
		if v.Invitee != "" {
			out[i].Invitee = v.Invitee.String()
		}
		if !v.Expires.IsZero() {
			out[i].Expires = v.Expires.UTC().Format(time.RFC3339)
		}
	}
	return out
}

func toReport(r chat.VerifyReport) api.VerifyReport {
	out := api.VerifyReport{OK: r.OK, Events: r.Events}
	if r.Problems != nil {
		out.Problems = make([]api.Problem, len(r.Problems))
		for i, p := range r.Problems {
			out.Problems[i] = api.Problem{Event: p.Event, Reason: p.Reason}
		}
	}
	return out
}
