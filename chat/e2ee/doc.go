// Package e2ee is the cryptographic foundation of Parley's private rooms
// and direct messages. It is a leaf: it imports only the standard
// library, golang.org/x/crypto and go-libp2p's core value types.
//
// Where to start reading: suite.go and domains.go fix the algorithms and
// every domain string; encode.go has the one field encoding; bundle.go,
// bundlebook.go and validator.go are key bundles, rollback protection and
// the DHT record validator.
package e2ee
