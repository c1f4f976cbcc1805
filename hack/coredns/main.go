// Command coredns is CoreDNS with only the plugins the tests use: the
// kubernetes plugin, which serves cluster DNS from the test API server,
// cache, errors and log around it, and bind, which keeps it on the
// loopback address the test gives. test/framework starts it (see
// coredns.go there) so that tests ask a real cluster DNS server what a
// Mydemo's Service, endpoint names and SRV records resolve to.
//
// Why a plugin set of our own instead of CoreDNS's main package: that one
// links every plugin (cloud DNS providers, etcd, dnstap, ...), several
// times the packages to compile from a cold cache, for nothing the tests
// ask.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
)

// directives are the plugins in the order CoreDNS chains them, as in
// CoreDNS's own plugin.cfg: bind only configures the listener, errors and
// log wrap everything, cache answers before the kubernetes plugin is
// asked.
var directives = []string{"bind", "errors", "log", "cache", "kubernetes"}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
