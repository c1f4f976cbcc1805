package check

// UDPSpec is the datagram of a UDP probe and what its reply must hold.
type UDPSpec struct {
	// Send is the datagram sent; required, since a UDP server answers
	// only what it is asked.
	Send []byte
	// Expect must be contained in the reply; empty means any reply.
	Expect []byte
}
