// Package protocols proves the protocol checks of pkg/probe/check against
// the real servers users run (redis-server, PostgreSQL and MariaDB from
// the distribution's packages, a UDP echo and the project's test DNS
// server), each inside a test host's network namespace (test/servers),
// reached from the initial namespace as the controller reaches its
// targets. The tests are all in _test files; this file only names the
// package.
package protocols
