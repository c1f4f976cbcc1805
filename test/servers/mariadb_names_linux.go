package servers

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// ProberHostName is the name a MariaDB started with MaxConnectErrors knows
// the test process's address by: the name its messages (1129, 1130) give
// the probes' host.
const ProberHostName = "prober.test"

// resolveNames returns the command that runs bin with args in a mount
// namespace of its own, in which /etc/hosts names the address the test
// process reaches server from ProberHostName (so the server's reverse
// lookup and its forward check are answered from the file) and
// /etc/resolv.conf names 127.0.0.1 of the Host's namespace, where nothing
// answers: a lookup the file does not answer fails at once, and no query
// reaches the machine's resolver. The files are written to dir. The
// shell execs bin, so the process started is the server itself.
func resolveNames(dir string, server netip.Addr, bin string, args []string) (string, []string, error) {
	unshare, err := program("unshare")
	if err != nil {
		return "", nil, err
	}
	src, err := SourceAddr(server)
	if err != nil {
		return "", nil, err
	}
	hosts := filepath.Join(dir, "hosts")
	resolv := filepath.Join(dir, "resolv.conf")
	for path, content := range map[string]string{
		hosts:  fmt.Sprintf("127.0.0.1 localhost\n%s %s\n", src, ProberHostName),
		resolv: "nameserver 127.0.0.1\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return "", nil, fmt.Errorf("servers: %w", err)
		}
	}
	// sh -c's first argument after the script is $0, the rest $1….
	const script = `mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"`
	return unshare, append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, hosts, resolv, bin}, args...), nil
}
