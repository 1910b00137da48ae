package p2p_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	record "github.com/libp2p/go-libp2p-record"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

// errNotCounter is what counterValidator refuses with.
var errNotCounter = errors.New("not a counter record")

// counterValidator accepts values "n=<digits>" and selects the highest:
// a record format p2p knows nothing of, as the callers' are.
type counterValidator struct{}

func (counterValidator) Validate(_ string, v []byte) error {
	var n uint
	if _, err := fmt.Sscanf(string(v), "n=%d", &n); err != nil || !bytes.Equal(v, fmt.Appendf(nil, "n=%d", n)) {
		return fmt.Errorf("%w: %q", errNotCounter, v)
	}
	return nil
}

func (counterValidator) Select(_ string, vs [][]byte) (int, error) {
	best, bestN := -1, -1
	for i, v := range vs {
		var n int
		if _, err := fmt.Sscanf(string(v), "n=%d", &n); err == nil && n > bestN {
			best, bestN = i, n
		}
	}
	if best < 0 {
		return 0, errNotCounter
	}
	return best, nil
}

// Config.RecordValidators registers the caller's DHT namespaces on every
// node: a record its validator accepts, put by one node, is got by
// another; one it refuses is refused with its error, a lower one loses to
// the stored higher one, and a key outside every namespace is refused.
func TestDHTRecordValidators(t *testing.T) {
	cfg := testConfig()
	cfg.RecordValidators = map[string]record.Validator{"counter": counterValidator{}}
	server, client := newNode(t, cfg), newNode(t, cfg)
	connect(t, client, server)
	testwait.For(t, 10*time.Second, "routing tables filled", func() bool {
		return server.DHT().RoutingTable().Size() > 0 && client.DHT().RoutingTable().Size() > 0
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	const key = "/counter/a"
	if err := client.DHT().PutValue(ctx, key, []byte("n=2")); err != nil {
		t.Fatalf("put a valid record: %v", err)
	}
	if got, err := server.DHT().GetValue(ctx, key); err != nil || string(got) != "n=2" {
		t.Fatalf("get: %q, %v", got, err)
	}
	if err := client.DHT().PutValue(ctx, key, []byte("garbage")); !errors.Is(err, errNotCounter) {
		t.Fatalf("put an invalid record: %v, want errNotCounter", err)
	}
	if err := client.DHT().PutValue(ctx, key, []byte("n=1")); err == nil {
		t.Fatal("put a lower record over a higher one")
	}
	if err := client.DHT().PutValue(ctx, "/elsewhere/a", []byte("n=3")); err == nil {
		t.Fatal("put a record outside every namespace")
	}
	if got, err := server.DHT().GetValue(ctx, key); err != nil || string(got) != "n=2" {
		t.Fatalf("stored record changed: %q, %v", got, err)
	}
}

// A node without the namespace registered neither stores nor serves its
// records, even pushed by a node that has it: registering is what lets
// them in.
func TestDHTRecordNamespaceUnregistered(t *testing.T) {
	cfg := testConfig()
	cfg.RecordValidators = map[string]record.Validator{"counter": counterValidator{}}
	client, server := newNode(t, cfg), newNode(t, testConfig())
	connect(t, client, server)
	testwait.For(t, 10*time.Second, "routing tables filled", func() bool {
		return server.DHT().RoutingTable().Size() > 0 && client.DHT().RoutingTable().Size() > 0
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_ = client.DHT().PutValue(ctx, "/counter/a", []byte("n=1")) // the server refuses it
	if err := server.DHT().PutValue(ctx, "/counter/a", []byte("n=1")); !errors.Is(err, record.ErrInvalidRecordType) {
		t.Fatalf("put on a node without the namespace: %v, want ErrInvalidRecordType", err)
	}
	if got, err := server.DHT().GetValue(ctx, "/counter/a"); err == nil {
		t.Fatalf("a node without the namespace served %q", got)
	}
}

// Validate refuses a namespace that kad-dht cannot register or that would
// replace its own, and a nil validator.
func TestConfigRecordValidators(t *testing.T) {
	for _, ns := range []string{"", "a/b", "pk", "ipns"} {
		cfg := testConfig()
		cfg.RecordValidators = map[string]record.Validator{ns: counterValidator{}}
		if err := cfg.Validate(); !errors.Is(err, p2p.ErrInvalidConfig) {
			t.Errorf("namespace %q: %v, want ErrInvalidConfig", ns, err)
		}
	}
	cfg := testConfig()
	cfg.RecordValidators = map[string]record.Validator{"counter": nil}
	if err := cfg.Validate(); !errors.Is(err, p2p.ErrInvalidConfig) {
		t.Errorf("nil validator: %v, want ErrInvalidConfig", err)
	}
}
