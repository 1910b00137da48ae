package main

import "golang.org/x/sys/windows"

// isTerminal reports whether fd is a console.
func isTerminal(fd int) bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(fd), &mode) == nil
}

// echoOff stops the console echoing what is typed and returns the
// function that restores it.
func echoOff(fd int) (restore func(), err error) {
	var old uint32
	h := windows.Handle(fd)
	if err := windows.GetConsoleMode(h, &old); err != nil {
		return nil, err
	}
	mode := old&^windows.ENABLE_ECHO_INPUT | windows.ENABLE_PROCESSED_INPUT | windows.ENABLE_LINE_INPUT
	if err := windows.SetConsoleMode(h, mode); err != nil {
		return nil, err
	}
	return func() { windows.SetConsoleMode(h, old) }, nil
}
