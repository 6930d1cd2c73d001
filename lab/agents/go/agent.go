// The go agent: socket calls through the net package, one JSON line per call
// (lab/agents/PROTOCOL.md).
//
// Calls are made as an ordinary Go program makes them: net.Dialer with a
// Timeout, net.ListenConfig, deadlines by SetDeadline, CloseWrite for a
// shutdown. Socket options go through RawConn.Control and syscall.Setsockopt*,
// the standard library's own way. IPv6 as a Go program writes it: listen
// "tcp4" on 0.0.0.0:port (family 4) or "tcp" on [::]:port (family 6), Dial
// "tcp" to net.JoinHostPort(addr, port), which picks the family from the
// literal (favoriteAddrFamily). `state` and `acked` read TCP_INFO and
// SIOCOUTQ through the syscall package on the same RawConn (no cgo). Each
// failure reports err.Error() verbatim and, where errors.As finds one, the
// syscall.Errno behind it.
//
// Build: go build -o agent agent.go
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// tcp_states.h order; TCP_INFO's first byte is one of these.
var tcpStates = []string{"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"}

const tcpUserTimeout = 0x12 // linux/tcp.h; Go's syscall package has no name for it

var options = map[string][2]int{
	"SO_LINGER": {syscall.SOL_SOCKET, syscall.SO_LINGER}, "SO_KEEPALIVE": {syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
	"SO_RCVBUF": {syscall.SOL_SOCKET, syscall.SO_RCVBUF}, "SO_SNDBUF": {syscall.SOL_SOCKET, syscall.SO_SNDBUF},
	"SO_REUSEADDR": {syscall.SOL_SOCKET, syscall.SO_REUSEADDR}, "TCP_NODELAY": {syscall.IPPROTO_TCP, syscall.TCP_NODELAY},
	"TCP_USER_TIMEOUT": {syscall.IPPROTO_TCP, tcpUserTimeout}, "TCP_KEEPIDLE": {syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE},
	"TCP_KEEPINTVL": {syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL}, "TCP_KEEPCNT": {syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT},
	"TCP_SYNCNT": {syscall.IPPROTO_TCP, syscall.TCP_SYNCNT}, "IPV6_V6ONLY": {syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY},
}

// The names of the errnos a socket call can return (syscall has the numbers, not the names).
var errnoNames = map[syscall.Errno]string{
	syscall.ECONNRESET: "ECONNRESET", syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ECONNABORTED: "ECONNABORTED",
	syscall.EPIPE: "EPIPE", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH: "ENETUNREACH", syscall.EHOSTDOWN: "EHOSTDOWN", syscall.ENETDOWN: "ENETDOWN",
	syscall.EADDRINUSE: "EADDRINUSE", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.EINPROGRESS: "EINPROGRESS",
	syscall.EAGAIN: "EAGAIN", syscall.EINTR: "EINTR", syscall.ENOTCONN: "ENOTCONN", syscall.EBADF: "EBADF",
	syscall.EINVAL: "EINVAL", syscall.EPROTO: "EPROTO", syscall.ENOPROTOOPT: "ENOPROTOOPT", syscall.EACCES: "EACCES",
	syscall.EPERM: "EPERM", syscall.ENOBUFS: "ENOBUFS", syscall.EMSGSIZE: "EMSGSIZE", syscall.ENOMEM: "ENOMEM",
	syscall.EISCONN: "EISCONN", syscall.EALREADY: "EALREADY", syscall.ESHUTDOWN: "ESHUTDOWN",
}

type command struct {
	ID       any                        `json:"id"`
	Op       string                     `json:"op"`
	Sock     *string                    `json:"sock"`
	Timeout  *float64                   `json:"timeout"`
	Port     int                        `json:"port"`
	Family   *int                       `json:"family"`
	Addr     string                     `json:"addr"`
	Backlog  *int                       `json:"backlog"`
	Listener string                     `json:"listener"`
	Bytes    *int                       `json:"bytes"`
	How      string                     `json:"how"`
	Option   string                     `json:"option"`
	Value    json.RawMessage            `json:"value"`
	Options  map[string]json.RawMessage `json:"options"`
	Want     []string                   `json:"want"`
	Style    string                     `json:"style"`
	Dontwait bool                       `json:"dontwait"`
}

type event map[string]any

// badCommand is a bad command (no such socket, unknown option): the event's "error".
type badCommand string

func (b badCommand) Error() string { return string(b) }

// skipped is a call or argument the net package offers no way to make.
type skipped string

func (s skipped) Error() string { return string(s) }

// timedOut is a deadline of the agent's own polling that passed.
var timedOut = errors.New("deadline passed")

func clocks() map[string]float64 {
	var mono syscall.Timespec
	// CLOCK_MONOTONIC (1), the clock the other agents report; the time package hides its value
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&mono)), 0)
	return map[string]float64{"mono": float64(mono.Nano()) / 1e9, "real": float64(time.Now().UnixNano()) / 1e9}
}

func name(cmd *command, dflt string) string {
	if cmd.Sock != nil {
		return *cmd.Sock
	}
	return dflt
}

func orInt(p *int, dflt int) int {
	if p != nil {
		return *p
	}
	return dflt
}

func deadline(cmd *command, dflt float64) time.Time {
	if cmd.Timeout == nil {
		if dflt == 0 {
			return time.Time{}
		}
		return time.Now().Add(time.Duration(dflt * float64(time.Second)))
	}
	return time.Now().Add(time.Duration(*cmd.Timeout * float64(time.Second)))
}

func endpoint(a net.Addr) []any {
	t := a.(*net.TCPAddr)
	return []any{t.IP.String(), t.Port}
}

// setOption sets one option on fd: the value is a number, or [on, seconds] for SO_LINGER.
func setOption(fd int, option string, raw json.RawMessage) error {
	lo, ok := options[option]
	if !ok {
		return badCommand(fmt.Sprintf("unknown socket option '%s'", option))
	}
	if option == "SO_LINGER" {
		var v [2]int32
		if err := json.Unmarshal(raw, &v); err != nil {
			return badCommand("SO_LINGER takes [on, seconds]")
		}
		return os.NewSyscallError("setsockopt", syscall.SetsockoptLinger(fd, lo[0], lo[1], &syscall.Linger{Onoff: v[0], Linger: v[1]}))
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		var b bool // IPV6_V6ONLY is a JSON bool
		if json.Unmarshal(raw, &b) != nil {
			return badCommand(option + " takes a number or a bool")
		}
		if b {
			v = 1
		}
	}
	return os.NewSyscallError("setsockopt", syscall.SetsockoptInt(fd, lo[0], lo[1], v))
}

// effective reads every option back through RawConn.Control (getsockopt): what the net
// package and the program's options left, e.g. the dialer's own keepalive. IPV6_V6ONLY's
// getsockopt fails (ENOPROTOOPT) on an AF_INET socket: it is left out there.
func effective(c *net.TCPConn) map[string]any {
	values := map[string]any{}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	withFd(raw, func(fd int) error {
		for option, lo := range options {
			if option == "SO_LINGER" { // syscall has no GetsockoptLinger: the two ints by hand
				var l syscall.Linger
				size := uint32(unsafe.Sizeof(l))
				_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), uintptr(lo[0]), uintptr(lo[1]),
					uintptr(unsafe.Pointer(&l)), uintptr(unsafe.Pointer(&size)), 0)
				if e == 0 {
					values[option] = []int32{l.Onoff, l.Linger}
				}
			} else if v, err := syscall.GetsockoptInt(fd, lo[0], lo[1]); err == nil {
				values[option] = v
			}
		}
		return nil
	})
	return values
}

// withFd runs f on the socket's descriptor through RawConn.Control.
func withFd(c syscall.RawConn, f func(fd int) error) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = f(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

func setOptions(opts map[string]json.RawMessage) func(string, string, syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		return withFd(c, func(fd int) error {
			for option, value := range opts {
				if err := setOption(fd, option, value); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

type agent struct{ socks map[string]any }

func (a *agent) conn(cmd *command) (*net.TCPConn, error) {
	n := name(cmd, "conn")
	if c, ok := a.socks[n].(*net.TCPConn); ok {
		return c, nil
	}
	if _, ok := a.socks[n].(dialFailed); ok {
		return nil, skipped("the failed Dial closed its socket: a Go program holds none to use")
	}
	return nil, badCommand(fmt.Sprintf("no socket named '%s'", n))
}

// dialFailed marks a socket name whose Dial failed: the net package closed the socket
// (socket() in sock_posix.go) and gave the program no connection.
type dialFailed struct{}

func (a *agent) rawConn(cmd *command) (syscall.RawConn, error) {
	n := name(cmd, "conn")
	if _, ok := a.socks[n].(dialFailed); ok { // the lab reads the kernel's socket table instead
		return nil, skipped("the failed Dial closed its socket: a Go program holds none to ask")
	}
	if s, ok := a.socks[n].(syscall.Conn); ok {
		return s.SyscallConn()
	}
	return nil, badCommand(fmt.Sprintf("no socket named '%s'", n))
}

func (a *agent) listen(cmd *command, ev event) (any, error) {
	if cmd.Backlog != nil {
		return nil, skipped("listen backlog: net.Listen takes none (it uses net.core.somaxconn)")
	}
	// family 4 is "tcp4": "tcp" with 0.0.0.0 would make a dual-stack [::] socket (favoriteAddrFamily:
	// a wildcard listen address means AF_INET6 where IPv4-mapped works); family 6 is "tcp" on [::],
	// AF_INET6 with IPV6_V6ONLY 0 (setDefaultSockopts), then Control sets the options
	network, host := "tcp4", "0.0.0.0"
	switch orInt(cmd.Family, 4) {
	case 4:
	case 6:
		network, host = "tcp", "::"
	default:
		return nil, badCommand(fmt.Sprintf("family %d: 4 or 6", *cmd.Family))
	}
	lc := net.ListenConfig{Control: setOptions(cmd.Options)}
	ln, err := lc.Listen(context.Background(), network, net.JoinHostPort(host, fmt.Sprint(cmd.Port)))
	if err != nil {
		return nil, err
	}
	a.socks[name(cmd, "listener")] = ln
	return nil, nil
}

func (a *agent) accept(cmd *command, ev event) (any, error) {
	l := cmd.Listener
	if l == "" {
		l = "listener"
	}
	ln, ok := a.socks[l].(*net.TCPListener)
	if !ok {
		return nil, badCommand(fmt.Sprintf("no socket named '%s'", l))
	}
	ln.SetDeadline(deadline(cmd, 0))
	c, err := ln.AcceptTCP()
	ln.SetDeadline(time.Time{})
	if err != nil {
		return nil, err
	}
	a.socks[name(cmd, "conn")] = c
	ev["local"], ev["peer"], ev["effective"] = endpoint(c.LocalAddr()), endpoint(c.RemoteAddr()), effective(c)
	return nil, nil
}

// keepAlive takes TCP_KEEPIDLE and TCP_KEEPINTVL out of opts as the one period a Go program
// gives net.Dialer.KeepAlive: DialContext sets both (setKeepAlivePeriod) after the dial, over
// anything set in Control. SO_KEEPALIVE goes too (the dialer turns it on); TCP_KEEPCNT stays.
func keepAlive(opts map[string]json.RawMessage) (map[string]json.RawMessage, time.Duration, error) {
	rest, period := map[string]json.RawMessage{}, time.Duration(0)
	for option, raw := range opts {
		switch option {
		case "TCP_KEEPIDLE", "TCP_KEEPINTVL":
			var secs int
			if err := json.Unmarshal(raw, &secs); err != nil {
				return nil, 0, badCommand(option + " takes a number")
			}
			if period != 0 && period != time.Duration(secs)*time.Second {
				return nil, 0, skipped("TCP_KEEPIDLE and TCP_KEEPINTVL apart: net.Dialer.KeepAlive sets both to one period")
			}
			period = time.Duration(secs) * time.Second
		case "SO_KEEPALIVE":
		default:
			rest[option] = raw
		}
	}
	return rest, period, nil
}

func (a *agent) connect(cmd *command, ev event) (any, error) {
	if cmd.Style != "" {
		return nil, skipped("connect style " + cmd.Style + ": net.Dialer connects one way (nonblocking, netpoller)")
	}
	opts, period, err := keepAlive(cmd.Options)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Control: setOptions(opts), KeepAlive: period}
	if cmd.Timeout != nil {
		d.Timeout = time.Duration(*cmd.Timeout * float64(time.Second))
	}
	ev["how"] = fmt.Sprintf("net.Dialer{Timeout: %v, KeepAlive: %v}.Dial (nonblocking connect, netpoller)",
		d.Timeout, d.KeepAlive)
	ev["peer"] = []any{cmd.Addr, cmd.Port}
	c, err := d.Dial("tcp", net.JoinHostPort(cmd.Addr, fmt.Sprint(cmd.Port))) // the family from the literal
	if err != nil {
		a.socks[name(cmd, "conn")] = dialFailed{}
		if op, ok := err.(*net.OpError); ok && op.Addr != nil { // a name: the address the dial tried last
			ev["peer"] = endpoint(op.Addr)
		}
		return nil, err // a failed Dial does not say which local port it had
	}
	a.socks[name(cmd, "conn")] = c
	ev["local"], ev["peer"] = endpoint(c.LocalAddr()), endpoint(c.RemoteAddr())
	ev["effective"] = effective(c.(*net.TCPConn))
	return nil, nil
}

// send writes `bytes` bytes; net.Conn.Write returns only once all are written or it fails.
func (a *agent) send(cmd *command, ev event) (any, error) {
	c, err := a.conn(cmd)
	if err != nil {
		return nil, err
	}
	if cmd.Dontwait && cmd.Op == "send" {
		return dontwait(c, orInt(cmd.Bytes, 1), ev)
	}
	n, err := c.Write([]byte(strings.Repeat("x", orInt(cmd.Bytes, 1))))
	if err != nil {
		ev["partial"] = n
		return nil, err
	}
	return n, nil
}

// dontwait is one write(2) on the runtime's own O_NONBLOCK descriptor through RawConn.Write, whose
// function returning true means "do not wait": what internal/poll's FD.Write tries before it parks
// in the netpoller (pd.waitWrite) on EAGAIN. net.Conn.Write itself never returns EAGAIN.
func dontwait(c *net.TCPConn, bytes int, ev event) (any, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	ev["how"] = "RawConn.Write: one write(2) on the netpoller's O_NONBLOCK fd, no wait (net.Conn.Write would park)"
	n, werr := 0, error(nil)
	if err := raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), []byte(strings.Repeat("x", bytes)))
		return true
	}); err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, os.NewSyscallError("write", werr)
	}
	return n, nil
}

// soError reads getsockopt(SO_ERROR) through RawConn.Control: the pending error's name, or 0.
// The kernel clears it as it hands it over (sock_error()).
func (a *agent) soError(cmd *command, ev event) (any, error) {
	c, err := a.rawConn(cmd)
	if err != nil {
		return nil, err
	}
	var v int
	if err := withFd(c, func(fd int) (e error) {
		v, e = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		return os.NewSyscallError("getsockopt", e)
	}); err != nil || v == 0 {
		return 0, err
	}
	if n, ok := errnoNames[syscall.Errno(v)]; ok {
		return n, nil
	}
	return fmt.Sprintf("errno %d", v), nil
}

func (a *agent) recv(cmd *command, ev event) (any, error) {
	c, err := a.conn(cmd)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(deadline(cmd, 0))
	defer c.SetReadDeadline(time.Time{})
	n, err := c.Read(make([]byte, orInt(cmd.Bytes, 65536)))
	if err == io.EOF {
		ev["words"] = err.Error()
	} else if err != nil {
		return nil, err
	}
	return n, nil
}

func (a *agent) recvall(cmd *command, ev event) (any, error) {
	c, err := a.conn(cmd)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(deadline(cmd, 0))
	defer c.SetReadDeadline(time.Time{})
	n, err := io.ReadFull(c, make([]byte, orInt(cmd.Bytes, 0)))
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		ev["words"] = err.Error()
	} else if err != nil {
		ev["partial"] = n
		return nil, err
	}
	return n, nil
}

func (a *agent) shutdown(cmd *command, ev event) (any, error) {
	c, err := a.conn(cmd)
	if err != nil {
		return nil, err
	}
	switch cmd.How {
	case "RD":
		return nil, c.CloseRead()
	case "RDWR": // net has no SHUT_RDWR: both halves, one after the other
		if err := c.CloseRead(); err != nil {
			return nil, err
		}
	}
	return nil, c.CloseWrite()
}

func (a *agent) close(cmd *command, ev event) (any, error) {
	n := name(cmd, "conn")
	if _, failed := a.socks[n].(dialFailed); failed {
		delete(a.socks, n)
		ev["how"] = "nothing to close: a failed Dial returns no connection"
		return nil, nil
	}
	s, ok := a.socks[n].(io.Closer)
	if !ok {
		return nil, badCommand(fmt.Sprintf("no socket named '%s'", n))
	}
	delete(a.socks, n)
	return nil, s.Close()
}

// getpeername is what a Go program asks: RemoteAddr(), kept by the net package from the dial or accept.
func (a *agent) getpeername(cmd *command, ev event) (any, error) {
	c, err := a.conn(cmd)
	if err != nil {
		return nil, err
	}
	addr := c.RemoteAddr().(*net.TCPAddr)
	ev["address"] = []any{addr.IP.String(), addr.Port}
	return nil, nil
}

func (a *agent) setsockopt(cmd *command, ev event) (any, error) {
	c, err := a.rawConn(cmd)
	if err != nil {
		return nil, err
	}
	return nil, withFd(c, func(fd int) error { return setOption(fd, cmd.Option, cmd.Value) })
}

// poll calls read every 2 ms until it returns done or the deadline passes.
func poll(cmd *command, read func() (any, bool, error)) (any, error) {
	end := deadline(cmd, 5)
	for {
		v, done, err := read()
		if err != nil || done {
			return v, err
		}
		if time.Now().After(end) {
			return nil, timedOut
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (a *agent) state(cmd *command, ev event) (any, error) {
	c, err := a.rawConn(cmd)
	if err != nil {
		return nil, err
	}
	return poll(cmd, func() (any, bool, error) {
		var info int // TCP_INFO's first 4 bytes: its first byte is the state
		err := withFd(c, func(fd int) (e error) {
			info, e = syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_INFO)
			return
		})
		state := tcpStates[info&0xff]
		for _, w := range cmd.Want {
			if w == state {
				return state, true, os.NewSyscallError("getsockopt", err)
			}
		}
		return state, false, os.NewSyscallError("getsockopt", err)
	})
}

func (a *agent) acked(cmd *command, ev event) (any, error) {
	c, err := a.rawConn(cmd)
	if err != nil {
		return nil, err
	}
	return poll(cmd, func() (any, bool, error) {
		var unacked int32
		err := withFd(c, func(fd int) error {
			_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&unacked)))
			if e != 0 {
				return os.NewSyscallError("ioctl", e)
			}
			return nil
		})
		return int(unacked), unacked == 0, err
	})
}

// report puts a call's result into its event: ret, errno, timeout, words alone, skipped or error.
func report(ev event, cmd *command, ret any, err error) {
	var bad badCommand
	var skip skipped
	var errno syscall.Errno
	var nerr net.Error
	switch {
	case err == nil:
		ev["ret"] = ret
	case errors.As(err, &bad):
		ev["error"] = bad.Error()
	case errors.As(err, &skip):
		ev["skipped"] = skip.Error()
	case errors.As(err, &errno):
		ev["errno"], ev["words"] = errnoNames[errno], err.Error()
		if errnoNames[errno] == "" {
			ev["errno"] = fmt.Sprintf("errno %d", int(errno))
		}
	case err == timedOut || errors.As(err, &nerr) && nerr.Timeout():
		ev["timeout"] = cmd.Timeout
		if err != timedOut {
			ev["words"] = err.Error()
		}
	default:
		ev["words"] = err.Error()
	}
}

func main() {
	sigpipe := "ignore" // the runtime's own: a write to a broken socket fails with EPIPE
	hello := event{"op": "hello", "pid": os.Getpid(), "runtime": "go", "version": runtime.Version()}
	for _, arg := range os.Args[1:] {
		switch arg {
		case "--sigpipe=ignore":
			signal.Ignore(syscall.SIGPIPE)
		case "--sigpipe=default":
			hello["skipped"] = "--sigpipe=default: the Go runtime keeps its own SIGPIPE handler; " +
				"a write to a broken socket (not fd 1 or 2) fails with EPIPE (os/signal)"
		}
	}
	hello["sigpipe"], hello["start"] = sigpipe, clocks()
	out := json.NewEncoder(os.Stdout)
	out.Encode(hello)
	a := &agent{socks: map[string]any{}}
	ops := map[string]func(*command, event) (any, error){
		"listen": a.listen, "accept": a.accept, "connect": a.connect, "send": a.send, "sendall": a.send,
		"recv": a.recv, "recvall": a.recvall, "shutdown": a.shutdown, "close": a.close,
		"setsockopt": a.setsockopt, "state": a.state, "acked": a.acked, "getpeername": a.getpeername,
		"so_error": a.soError,
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<20)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "" {
			continue
		}
		var cmd command
		ev := event{"start": clocks()}
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			ev["error"] = err.Error()
		} else if cmd.Op == "exit" {
			ev["id"], ev["op"], ev["ret"], ev["end"] = cmd.ID, "exit", nil, clocks()
			out.Encode(ev)
			os.Exit(0) // without closing anything: the kernel closes our sockets as for a crashed program
		} else if op, ok := ops[cmd.Op]; ok {
			ret, err := op(&cmd, ev)
			report(ev, &cmd, ret, err)
		} else {
			ev["error"] = fmt.Sprintf("unknown op '%s'", cmd.Op)
		}
		ev["id"], ev["op"], ev["sock"], ev["end"] = cmd.ID, cmd.Op, cmd.Sock, clocks()
		out.Encode(ev)
	}
}
