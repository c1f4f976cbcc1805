// Package servers runs real servers from the distribution's packages
// (redis-server, PostgreSQL, MariaDB) and small in-process ones (a UDP echo,
// the project's DNS test server) inside a test host's network namespace
// (see test/testhost), so that the probes can be proven against the
// programs users run, reached the way the controller reaches them: from the
// initial namespace, over the Host's veth.
//
// Every server listens on one address of the Host's subnet that the test
// chooses (so several servers of a kind share their standard port) and on
// a unix socket in its own temporary directory, through which the harness
// administers it without touching the probed path. Nothing listens outside
// the namespace: the unix sockets are files, and no TCP or UDP socket is
// opened in the initial namespace.
//
// A Start function returns once the server answers (a condition, never a
// fixed sleep) and registers a cleanup that kills and reaps the process
// (and its children) and removes its directory. The processes lead their
// own process groups and get SIGKILL from the kernel should the test binary
// die first.
//
// Locating the programs: redis-server and the mariadb tools are found on
// PATH or in /usr/sbin; PostgreSQL's, which Debian keeps out of PATH, in
// /usr/lib/postgresql/<version>/bin (the newest version installed).
package servers
