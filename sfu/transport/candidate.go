package transport

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadCandidate is returned by ParseCandidate for a line it cannot read.
var ErrBadCandidate = errors.New("transport: malformed ICE candidate")

// SDP renders c as an SDP attribute value ("candidate:..."), the form browsers and pion trickle
// and the one pion's ICE agent parses: the only candidate serializer of the bridge. Missing
// protocol, component and type read as udp, 1 (RTP) and host.
func (c Candidate) SDP() string {
	proto := c.Protocol
	if proto == "" {
		proto = "udp"
	}
	comp := c.Component
	if comp == 0 {
		comp = 1
	}
	typ := c.Type
	if typ == "" {
		typ = "host"
	}
	s := fmt.Sprintf("candidate:%s %d %s %d %s %d typ %s", c.Foundation, comp, proto, c.Priority, c.IP, c.Port, typ)
	if c.RelAddr != "" {
		s += fmt.Sprintf(" raddr %s rport %d", c.RelAddr, c.RelPort)
	}
	if c.TCPType != "" {
		s += " tcptype " + c.TCPType
	}
	return s + fmt.Sprintf(" generation %d", c.Generation)
}

// ParseCandidate reads an SDP candidate attribute, with or without the "a=" and "candidate:"
// prefixes: "<foundation> <component> <protocol> <priority> <ip> <port> typ <type> [raddr a
// rport p] [tcptype t] [generation g] [network-id n] [other key value]...".
func ParseCandidate(s string) (Candidate, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "a=")
	s = strings.TrimPrefix(s, "candidate:")
	f := strings.Fields(s)
	if len(f) < 8 || f[6] != "typ" {
		return Candidate{}, fmt.Errorf("%w: %q", ErrBadCandidate, s)
	}
	comp, err1 := strconv.Atoi(f[1])
	prio, err2 := strconv.ParseUint(f[3], 10, 32)
	port, err3 := strconv.Atoi(f[5])
	if err := errors.Join(err1, err2, err3); err != nil || comp < 1 || comp > 2 || port < 1 || port > 65535 {
		return Candidate{}, fmt.Errorf("%w: %q: numbers out of range", ErrBadCandidate, s)
	}
	c := Candidate{Foundation: f[0], Component: comp, Protocol: strings.ToLower(f[2]),
		Priority: uint32(prio), IP: f[4], Port: port, Type: f[7]}
	for i := 8; i+1 < len(f); i += 2 {
		v := f[i+1]
		switch f[i] {
		case "raddr":
			c.RelAddr = v
		case "rport":
			c.RelPort, _ = strconv.Atoi(v)
		case "tcptype":
			c.TCPType = v
		case "generation":
			c.Generation, _ = strconv.Atoi(v)
		case "network-id":
			c.Network, _ = strconv.Atoi(v)
		}
	}
	return c, nil
}
