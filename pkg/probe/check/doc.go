// Package check holds what one probe of one address does, one file per
// kind: tcp.go (a connect, then optionally send and expect), http.go (an
// HTTP or HTTPS request), grpc.go (the gRPC health service), redis.go
// (PING, and ROLE), postgres.go (a startup message), mysql.go (the
// server's greeting, then a login without a password, so that the server
// does not count the probe as a handshake error of the controller's host),
// udp.go (a datagram and its reply) and dns.go (one
// question over UDP), with TLS settings in tls.go and the connection
// every protocol check reads through, tied to the probe's deadline, in
// conn.go. No check sends credentials. A Checker is built once per
// distinct Spec and reports a failure as an Error whose text is the
// message status shows (messages.go bounds and words it).
//
// Checks know nothing of schedules, thresholds or Mydemos: the engine in
// package probe decides when to call them and what their results mean.
// Every check dials through one DialFunc, so a test or the engine can
// replace the network for all kinds at once.
package check
