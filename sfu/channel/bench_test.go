package channel

import (
	"fmt"
	"strings"
	"testing"
)

// A ReceiverVideoConstraints as Jitsi Meet sends it in tile view with a few visible tiles.
var typicalConstraints = []byte(`{"colibriClass":"ReceiverVideoConstraints","lastN":25,` +
	`"selectedSources":["a1b2c3d4-v1"],"onStageSources":[],` +
	`"defaultConstraints":{"maxHeight":0},` +
	`"constraints":{"a1b2c3d4-v0":{"maxHeight":360},"e5f6a7b8-v0":{"maxHeight":360},` +
	`"c9d0e1f2-v0":{"maxHeight":180},"a1b2c3d4-v1":{"maxHeight":-1}},"assumedBandwidthBps":-1}`)

func BenchmarkParseReceiverVideoConstraints(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalConstraints)))
	for b.Loop() {
		if _, err := Parse(typicalConstraints); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWithFromEndpointStats(b *testing.B) {
	stats := []byte(`{"colibriClass":"EndpointStats","bitrate":{"upload":1200,"download":800},` +
		`"connectionQuality":100,"jvbRTT":23,"maxEnabledResolution":720,"packetLoss":{"total":0},"serverRegion":"eu"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WithFrom(stats, "a1b2c3d4"); err != nil {
			b.Fatal(err)
		}
	}
}

// Worst cases near MaxMessageSize: many escaped top-level keys (each decoded on its own), and a
// constraints map with thousands of entries (each validated by VideoConstraints.UnmarshalJSON).
func BenchmarkParseHostile64K(b *testing.B) {
	build := func(head, item, tail string) []byte {
		out := []byte(head)
		for i := 0; len(out)+len(item)+len(tail)+8 < MaxMessageSize; i++ {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, fmt.Sprintf(item, i)...)
		}
		return append(out, tail...)
	}
	cases := map[string][]byte{
		"escapedKeys": build(`{"colibriClass":"EndpointMessage","to":"",`, `"k\u0065y%d":0`, `}`),
		"constraints": build(`{"colibriClass":"ReceiverVideoConstraints","constraints":{`, `"s%d":{"maxHeight":1}`, `}}`),
		"depth32":     []byte(`{"colibriClass":"EndpointStats","x":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`),
	}
	for name, data := range cases {
		if _, err := Parse(data); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = Parse(data)
			}
		})
	}
}
