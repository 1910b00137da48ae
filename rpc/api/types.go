package api

// Message is one chat message: msg_send's and msg_history's results and
// the result of a chat_subscription notification.
type Message struct {
	ID         string `json:"id"`
	Room       string `json:"room"`
	Author     string `json:"author"` // the author's peer ID
	AuthorName string `json:"authorName,omitempty"`
	Text       string `json:"text"`
	// Time is the author's claimed time, RFC 3339 in UTC. The node does not
	// check it (order by Lamport); a claim outside years 0001–9999 is
	// shown clamped to the nearest end, the signed event keeping it as is.
	Time    string   `json:"time"`
	Lamport uint64   `json:"lamport"`
	Parents []string `json:"parents"`
	// Cursor is the node's arrival position of the message; pass it as
	// SubscribeFilter.Since to resume a subscription right after it.
	Cursor string `json:"cursor"`
}

// Room is a joined room: room_join's, room_create's and room_list's
// results.
type Room struct {
	ID      string `json:"id"`
	Name    string `json:"name"` // a moderated room joined by ID: "" until its genesis arrives
	Private bool   `json:"private"`
	// Moderated is set for rooms made by room_create: they have admins,
	// bans and a join policy (room_ban, room_admins, room_policy, …).
	Moderated bool `json:"moderated,omitempty"`
	// Policy is a moderated room's join policy: "open" (anyone not
	// banned writes) or "members" (admins and admitted members only).
	Policy string `json:"policy,omitempty"`
	// Invite is set only by room_create of a private room: an invite
	// token for it (a capability, no key; see room_invite).
	Invite string `json:"invite,omitempty"`
	// Kind is "dm" for a direct conversation (dm_send), absent otherwise.
	Kind string `json:"kind,omitempty"`
}

// CreateRoom is room_create's param.
type CreateRoom struct {
	Name    string `json:"name"`
	Private bool   `json:"private,omitempty"`
}

// Member is one element of room_members' result.
type Member struct {
	PeerID   string `json:"peerId"`
	Name     string `json:"name"`               // display name from their join or profile events; may be empty
	LastSeen string `json:"lastSeen,omitempty"` // RFC 3339: claimed time of their newest event in the room, clamped as Message.Time; absent when invited
	// State is "member" (has events in the room) or "invited" (a private
	// room's admins added it; it has written nothing yet).
	State string `json:"state"`
}

// Invite is one element of room_invites' result.
type Invite struct {
	ID      string `json:"id"` // hex; room_invite_revoke's param
	Inviter string `json:"inviter"`
	Invitee string `json:"invitee,omitempty"` // the one peer it admits, if it names one
	Expires string `json:"expires,omitempty"` // RFC 3339
	MaxUses int    `json:"maxUses"`
	Uses    int    `json:"uses"`
	Revoked bool   `json:"revoked"`
}

// NodeInfo is the result of node_info.
type NodeInfo struct {
	PeerID  string   `json:"peerId"`
	Addrs   []string `json:"addrs"` // full multiaddrs ending in /p2p/<peerId>
	Version string   `json:"version"`
	Peers   int      `json:"peers"`
	Rooms   int      `json:"rooms"`
	// Reachability is what AutoNAT concluded: public, private or unknown.
	Reachability string `json:"reachability"`
	// RelayAddrs are our addresses through relays (when private).
	RelayAddrs []string `json:"relayAddrs"`
	// Sync is the ledger sync state of each joined room.
	Sync []RoomSync `json:"sync"`
}

// RoomSync is one room's sync state in NodeInfo.
type RoomSync struct {
	Room          string `json:"room"`
	Events        uint64 `json:"events"`             // events stored
	Orphans       int    `json:"orphans"`            // events waiting for their parents
	InProgress    bool   `json:"inProgress"`         // a sync session is running
	LastSync      string `json:"lastSync,omitempty"` // RFC 3339, end of the last successful session
	EventsFetched uint64 `json:"eventsFetched"`      // events stored by sync since start
	LastError     string `json:"lastError,omitempty"`
}

// PeerInfo is one element of node_peers' result.
type PeerInfo struct {
	PeerID string   `json:"peerId"`
	Addrs  []string `json:"addrs"`
}

// VerifyReport is the result of ledger_verify.
type VerifyReport struct {
	OK       bool      `json:"ok"`
	Events   int       `json:"events"`
	Problems []Problem `json:"problems"` // the first one is the first bad event
}

// Problem names one bad event (or storage key, when no event ID can be
// read) of a VerifyReport and why it is bad.
type Problem struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
}

// HistoryQuery is msg_history's second param. Zero fields are omitted:
// Limit 0 asks for the node's default page, Before "" for the newest
// messages.
type HistoryQuery struct {
	Limit  int    `json:"limit,omitempty"`
	Before string `json:"before,omitempty"` // a message ID; only messages before it
}

// SubscribeFilter is chat_subscribe's second param. Room "" means every
// joined room; Since "" means live messages only, else a Message cursor (or
// message ID) after which the subscription first replays what it missed.
type SubscribeFilter struct {
	Room  string `json:"room,omitempty"`
	Since string `json:"since,omitempty"`
}
