package servers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// RedisError is an error reply of a Redis server, such as "LOADING Redis is
// loading the dataset in memory".
type RedisError string

func (e RedisError) Error() string { return "redis: " + string(e) }

// redisCommand sends the commands over one connection to the unix socket
// sock and returns the last one's reply: a string for a simple or bulk
// string, an int64 for an integer, []any for an array, nil for a null. An
// error reply to any of them ends the exchange with a RedisError.
func redisCommand(ctx context.Context, sock string, cmds ...[]string) (any, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	var req strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&req, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	var reply any
	for range cmds {
		if reply, err = readReply(r); err != nil {
			return nil, err
		}
	}
	return reply, nil
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("redis: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, RedisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		items := make([]any, n)
		for i := range items {
			// An error inside an array is an element, not the reply.
			item, err := readReply(r)
			if e, ok := err.(RedisError); ok {
				item, err = e, nil
			}
			if err != nil {
				return nil, err
			}
			items[i] = item
		}
		return items, nil
	default:
		return nil, fmt.Errorf("redis: unexpected reply %q", line)
	}
}
