package channel

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, only returns the package's errors, and that every
// message it accepts encodes and parses back to an equal value.
func FuzzParse(f *testing.F) {
	for _, tt := range encodeCases {
		b, err := Encode(tt.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTooDeep) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownClass) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if (m != nil) != errors.Is(err, ErrUnknownClass) {
				t.Fatalf("Parse = %#v, %v: a value only with ErrUnknownClass", m, err)
			}
			return
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Encode(m)) = %v\ninput %q\nencoded %q", err, data, b)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message\ninput %q\nencoded %q\n first %#v\nsecond %#v", data, b, m, again)
		}
		if em, ok := m.(*EndpointMessage); ok {
			out, err := WithFrom(em.Raw, "e1")
			if err != nil {
				t.Fatalf("WithFrom: %v", err)
			}
			fwd, err := Parse(out)
			if err != nil {
				t.Fatalf("forwarded message does not parse: %v\n%q", err, out)
			}
			if f := fwd.(*EndpointMessage); f.To != em.To || string(f.Payload) != string(em.Payload) {
				t.Fatalf("WithFrom changed to/payload: %q", out)
			}
		}
	})
}
