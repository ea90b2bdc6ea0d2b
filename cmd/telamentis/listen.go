package main

import (
	"errors"
	"fmt"
	"syscall"
)

// listenError names the flag that set a listener's address in its error,
// so that a port clash says what to change instead of only
// "bind: address already in use".
func listenError(flag, addr string, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("--%s %s: %w", flag, addr, err)
	}
	msg := fmt.Sprintf("--%s %s: address already in use; choose another with --%s", flag, addr, flag)
	if flag == "admin-listen" {
		msg += " (or turn the admin listener off with --admin-listen off)"
	}
	return &addrInUseError{msg: msg, err: err}
}

// addrInUseError is a port clash: its message names the flag, and it
// still unwraps to the system error.
type addrInUseError struct {
	msg string
	err error
}

func (e *addrInUseError) Error() string { return e.msg }
func (e *addrInUseError) Unwrap() error { return e.err }
