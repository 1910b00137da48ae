package api

// NotificationMethod is the method name of subscription notifications:
//
//	{"jsonrpc":"2.0","method":"chat_subscription","params":{"subscription":ID,"result":Message}}
//
// When a subscription ends for any reason other than chat_unsubscribe or the
// connection closing, one last notification carries "error" instead of
// "result": {"code":-32009,"message":...,"data":{"cursor":LAST}} where LAST
// is the cursor of the last delivered message (or the since it started
// with); subscribe again with since=LAST to resume without gaps.
const NotificationMethod = "chat_subscription"

// SubscriptionParams is the params object of a chat_subscription
// notification. Exactly one of Result and Error is set.
type SubscriptionParams struct {
	Subscription string   `json:"subscription"`
	Result       *Message `json:"result,omitempty"`
	Error        *Error   `json:"error,omitempty"`
}

// SubscriptionEnd is the Data of the final notification's error
// (CodeSubscriptionDropped).
type SubscriptionEnd struct {
	Cursor string `json:"cursor"`
}
