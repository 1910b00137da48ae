//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package main

import "errors"

// isTerminal is false where Parley cannot turn echo off, so the
// passphrase must come from PARLEY_PASSPHRASE_FILE.
func isTerminal(int) bool { return false }

func echoOff(int) (func(), error) { return nil, errors.New("no terminal support") }
