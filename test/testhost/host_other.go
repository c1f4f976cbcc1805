//go:build !linux

package testhost

import (
	"context"
	"errors"
	"net"
	"net/netip"
)

// errUnsupported is returned everywhere but on Linux, which is the only
// system with the network namespaces a Host is built on.
var errUnsupported = errors.New("testhost: network namespaces are only available on Linux")

// New fails: test hosts need Linux.
func New(ctx context.Context, opts Options) (*Host, error) { return nil, errUnsupported }

// Close does nothing.
func (h *Host) Close() error { return nil }

// Serve fails: test hosts need Linux.
func (h *Host) Serve(port int) error { return errUnsupported }

// Listen fails: test hosts need Linux.
func (h *Host) Listen(port int) (net.Listener, error) { return nil, errUnsupported }

// StopServing fails: test hosts need Linux.
func (h *Host) StopServing(port int) error { return errUnsupported }

// BlackHole fails: test hosts need Linux.
func (h *Host) BlackHole() error { return errUnsupported }

// Restore fails: test hosts need Linux.
func (h *Host) Restore() error { return errUnsupported }

func shutdownListener(ln net.Listener) {}

// Do fails: test hosts need Linux.
func (h *Host) Do(fn func() error) error { return errUnsupported }

// Peers returns nothing: test hosts need Linux.
func (h *Host) Peers(port int) []netip.Addr { return nil }
