package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestTableSaysWhenTheLoadGeneratorSharesTheCores(t *testing.T) {
	r := &Result{Machine: MachineInfo{Cores: 2, LoadGeneratorSharesCPU: true}, Scenario: ScenarioSummary{SignallingProtocol: "colibri2-xmpp"},
		Bridge:         BridgeInfo{XMPPOccupant: "jvbbrewery@internal-muc.meet.jitsi/jvb1"},
		AllocateMs:     JoinMs{P50: 4.5, P90: 5, Max: 6},
		RESTComparison: &JoinComparison{Signalling: "colibri2-rest", Joined: 3, JoinMs: JoinMs{P50: 7}, AllocateMs: JoinMs{P50: 1.3}}}
	var b bytes.Buffer
	r.WriteTable(&b)
	out := b.String()
	for _, want := range []string{"2 cores SHARED by the bridge and this load generator", "allocation (colibri2-xmpp)",
		"round trip p50 4.5 ms", "same joins over colibri2-rest", "join p50 7 ms", "round trip p50 1.3 ms",
		"jvbbrewery@internal-muc.meet.jitsi/jvb1"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	r.Machine.LoadGeneratorSharesCPU = false
	r.RESTComparison = nil
	b.Reset()
	r.WriteTable(&b)
	if out := b.String(); strings.Contains(out, "SHARED") || strings.Contains(out, "same joins over") {
		t.Errorf("table claims sharing or a comparison it does not have:\n%s", out)
	}
}
