package stats

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"gojvb/sfu"
)

// labelled returns the value of family name's series whose reason label is reason.
func labelled(fams map[string]*dto.MetricFamily, name, reason string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" && l.GetValue() == reason {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestReceiverCountersUseJVBAndOwnNames: the dominant speaker count keeps JVB's names in
// presence, /colibri/stats and /metrics; the new drops are reasons of our own labelled families.
func TestReceiverCountersUseJVBAndOwnNames(t *testing.T) {
	st := sfu.Stats{
		DominantSpeakerChanges: 7,
		PacketsSent:            1,
		DroppedRTX:             11, DroppedSilence: 13, DroppedMalformed: 17,
		DataChannelMessagesUnknown: 19, DataChannelMessagesMalformed: 23, DataChannelMessagesDropped: 29,
	}
	s := NewSampler(Sources{Bridge: func() sfu.Stats { return st }}, Info{Version: "v"}, t0)
	r := s.Sample(t0.Add(time.Second))

	if got := statMap(r.Presence())["total_dominant_speaker_changes"]; got != "7" {
		t.Errorf("presence total_dominant_speaker_changes = %q, want 7", got)
	}
	raw := string(r.JSON())
	// JVB's order: after the packet totals (own and relays'), before the ICE totals.
	i := strings.Index(raw, `"total_packets_sent":1,"total_bytes_received_octo":0,"total_bytes_sent_octo":0,`+
		`"total_packets_received_octo":0,"total_packets_sent_octo":0,"total_dominant_speaker_changes":7,"preemptive_kfr_sent":0,"preemptive_kfr_suppressed":0,"total_ice_failed"`)
	if i < 0 {
		t.Errorf("/colibri/stats lacks total_dominant_speaker_changes in JVB's place: %s", raw)
	}

	fams := scrape(t, s)
	if got := value(t, fams, "jitsi_jvb_dominant_speaker_changes_total"); got != 7 {
		t.Errorf("jitsi_jvb_dominant_speaker_changes_total = %v, want 7", got)
	}
	if fams["jitsi_jvb_dominant_speaker_changes_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("dominant speaker changes is a %v, want a counter", fams["jitsi_jvb_dominant_speaker_changes_total"].GetType())
	}
	for _, c := range []struct {
		family, reason string
		want           float64
	}{
		{"jitsi_jvb_dropped_packets_total", "rtx", 11},
		{"jitsi_jvb_dropped_packets_total", "silence", 13},
		{"jitsi_jvb_dropped_packets_total", "malformed", 17},
		{"jitsi_jvb_data_channel_messages_dropped_total", "unknown_class", 19},
		{"jitsi_jvb_data_channel_messages_dropped_total", "malformed", 23},
		{"jitsi_jvb_data_channel_messages_dropped_total", "refused", 29},
	} {
		got, ok := labelled(fams, c.family, c.reason)
		if !ok || got != c.want {
			t.Errorf("%s{reason=%q} = %v (present %v), want %v", c.family, c.reason, got, ok, c.want)
		}
	}
	if n := len(fams["jitsi_jvb_data_channel_messages_dropped_total"].GetMetric()); n != 3 {
		t.Errorf("%d data_channel_messages_dropped series, want 3", n)
	}
}

// TestEveryBridgeCounterIsExported gives each uint64 total of sfu.Stats a distinct value and
// checks that it reaches /metrics or the stats keys, so a counter added to the media core cannot
// be forgotten here.
func TestEveryBridgeCounterIsExported(t *testing.T) {
	var st sfu.Stats
	v := reflect.ValueOf(&st).Elem()
	want := map[string]float64{}
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			n := uint64(1_000_003 + 7919*i) // distinct, and unlike any gauge or rate
			f.SetUint(n)
			want[v.Type().Field(i).Name] = float64(n)
		}
	}
	if len(want) < 20 {
		t.Fatalf("only %d counters found in sfu.Stats", len(want))
	}
	s := NewSampler(Sources{Bridge: func() sfu.Stats { return st }}, Info{Version: "v"}, t0)
	seen := map[float64]bool{}
	for _, fam := range scrape(t, s) {
		for _, m := range fam.GetMetric() {
			seen[m.GetCounter().GetValue()] = true
			seen[m.GetGauge().GetValue()] = true
		}
	}
	for _, f := range s.Last().Fields() {
		if n, ok := f.Value.(uint64); ok {
			seen[float64(n)] = true
		}
	}
	for name, n := range want {
		if !seen[n] {
			t.Errorf("sfu.Stats.%s (%s) is neither in /metrics nor in the stats keys", name, strconv.FormatFloat(n, 'f', -1, 64))
		}
	}
}
