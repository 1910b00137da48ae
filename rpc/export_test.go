package rpc

// Hooks for the external tests (package rpc_test), which cannot construct a
// *chat.Subscription.

type (
	ChatBackend  = chatBackend
	Subscription = subscription
)

func NewWithBackend(node NodeAPI, cb ChatBackend, cfg Config) (*Server, error) {
	return newServer(node, cb, cfg)
}

// MethodNames returns the names of the methods s serves, in order.
func MethodNames(s *Server) []string {
	var names []string
	for _, m := range s.order {
		names = append(names, m.Name)
	}
	return names
}

// AllMethodNames returns every method of the registry.
func AllMethodNames() []string {
	var names []string
	for _, m := range registry() {
		names = append(names, m.Name)
	}
	return names
}

// RenderAPIDoc renders docs/API.md.
var RenderAPIDoc = renderAPIDoc
