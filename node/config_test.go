package node

import (
	"errors"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(), true},
		{"zero, filled", Config{}.withDefaults(), true},
		{"log level warn", Config{LogLevel: "warn"}, true},
		{"log level loud", Config{LogLevel: "loud"}, false},
		{"author rate off", Config{AuthorRate: -1}, true},
		{"author rate negative", Config{AuthorRate: -5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadConfig)) {
				t.Fatalf("Validate: %v, want ok=%v (else ErrBadConfig)", err, tc.ok)
			}
		})
	}
}
