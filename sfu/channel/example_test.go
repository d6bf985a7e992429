package channel_test

import (
	"errors"
	"fmt"
	"time"

	"gojvb/sfu/channel"
)

// An endpoint's message loop: rate-limit, parse, count drops, and forward endpoint messages
// with the real sender stamped.
func Example() {
	limiter := channel.NewRateLimiter(50, 100)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, in := range []string{
		`{"colibriClass":"ClientHello"}`,
		`{"colibriClass":"EndpointMessage","to":"","from":"boss","msgPayload":{"text":"hi"}}`,
		`{"colibriClass":"ReceiverVideoConstraints","lastN":"three"}`,
		`{"colibriClass":"Whatever"}`,
	} {
		if !limiter.Allow(now) {
			continue
		}
		m, err := channel.Parse([]byte(in))
		if err != nil {
			fmt.Println("drop:", channel.DropReason(err), errors.Is(err, channel.ErrMalformed))
			continue
		}
		switch m := m.(type) {
		case *channel.ClientHello:
			reply, _ := channel.Encode(&channel.ServerHello{})
			fmt.Println("reply:", string(reply))
		case *channel.EndpointMessage:
			out, _ := channel.WithFrom(m.Raw, "e1")
			fmt.Println("broadcast:", m.To == "", string(out))
		}
	}
	// Output:
	// reply: {"colibriClass":"ServerHello"}
	// broadcast: true {"colibriClass":"EndpointMessage","to":"","msgPayload":{"text":"hi"},"from":"e1"}
	// drop: malformed true
	// drop: unknown_class false
}
