package bench

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMeeting100PresetBuildsTheMeeting(t *testing.T) {
	sc, err := Preset("meeting100")
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	confs := buildEndpoints(sc, 7, start)
	if len(confs) != 1 || len(confs[0]) != 100 {
		t.Fatalf("%d conferences, want 1 of 100", len(confs))
	}
	var video, audio, onStage, nack int
	stage := confs[0][0].id + "-v0"
	for _, e := range confs[0] {
		if len(e.video) == 3 {
			video++
		}
		if e.sender {
			audio++
		}
		if e.onStage {
			onStage++
			if e.sender || e.cons.onStage != stage || e.cons.onStageHeight != 720 {
				t.Errorf("on-stage endpoint %s: sender %v, constraints %+v", e.id, e.sender, e.cons)
			}
		}
		if e.nack {
			nack++
		}
		if e.cons.lastN != 25 || e.cons.maxHeight != 180 || e.tccRec == nil || e.sampleEvery != 64 {
			t.Fatalf("endpoint %s: constraints %+v, tcc %v, sample every %d", e.id, e.cons, e.tccRec != nil, e.sampleEvery)
		}
	}
	if video != 25 || audio != 25 || onStage != 5 || nack != 100 {
		t.Fatalf("video %d audio %d on-stage %d nack %d, want 25 25 5 100", video, audio, onStage, nack)
	}
	// Exactly one audio sender speaks at any time, and the speaker changes every 3 s.
	for _, at := range []time.Duration{0, 2 * time.Second, 3 * time.Second, 70 * time.Second} {
		var speaking []int
		for i, e := range confs[0] {
			if e.sender && e.audio.speaking(start.Add(at)) {
				speaking = append(speaking, i)
			}
		}
		want := int(at/(3*time.Second)) % 25
		if len(speaking) != 1 || speaking[0] != want {
			t.Errorf("at %v speaking %v, want [%d]", at, speaking, want)
		}
	}
	// Same seed, same SSRCs: the mirroring relay's endpoints are the bridge's.
	again := buildEndpoints(sc, 7, start)
	if !slices.Equal(ssrcsOf(confs[0]), ssrcsOf(again[0])) {
		t.Fatal("the same seed built different SSRCs")
	}
}

func ssrcsOf(eps []*simEndpoint) []uint32 {
	var out []uint32
	for _, e := range eps {
		if e.sender {
			out = append(out, e.audio.hdr.SSRC)
			for _, l := range e.video {
				out = append(out, l.hdr.SSRC)
			}
		}
	}
	return out
}

func TestLecturePresetIsOneSenderOnStageForThreeHundred(t *testing.T) {
	sc, err := Preset("lecture")
	if err != nil {
		t.Fatal(err)
	}
	eps := buildEndpoints(sc, 1, time.Now())[0]
	var senders, onStage int
	for _, e := range eps {
		if e.sender {
			senders++
		}
		if e.onStage {
			onStage++
		}
	}
	if len(eps) != 301 || senders != 1 || onStage != 300 {
		t.Fatalf("%d endpoints, %d senders, %d on stage; want 301, 1, 300", len(eps), senders, onStage)
	}
	if _, err := Preset("webinar"); err == nil || !strings.Contains(err.Error(), "meeting100") {
		t.Fatalf("unknown preset error %v, want one listing the presets", err)
	}
}

func TestAudioOnlySendersSignalNoVideo(t *testing.T) {
	sc := DefaultScenario()
	sc.Participants, sc.Senders, sc.AudioSenders = 4, 1, 3
	eps := buildEndpoints(sc, 3, time.Now())[0]
	if len(eps[0].sources()) != 2 || len(eps[1].sources()) != 1 || eps[1].sources()[0].Type != "audio" || eps[3].sources() != nil {
		t.Fatalf("sources: %d, %d, %d; want 2 (audio+video), 1 (audio), 0", len(eps[0].sources()), len(eps[1].sources()), len(eps[3].sources()))
	}
}

func TestReceiverConstraintsPutTheSourceOnStage(t *testing.T) {
	var m struct {
		Class       string                    `json:"colibriClass"`
		LastN       int                       `json:"lastN"`
		Default     map[string]int            `json:"defaultConstraints"`
		OnStage     []string                  `json:"onStageSources"`
		Constraints map[string]map[string]int `json:"constraints"`
	}
	if err := json.Unmarshal(receiverConstraints(constraints{lastN: 25, maxHeight: 180, onStage: "ab-v0", onStageHeight: 720}), &m); err != nil {
		t.Fatal(err)
	}
	if m.Class != "ReceiverVideoConstraints" || m.LastN != 25 || m.Default["maxHeight"] != 180 ||
		!slices.Equal(m.OnStage, []string{"ab-v0"}) || m.Constraints["ab-v0"]["maxHeight"] != 720 {
		t.Fatalf("constraints %+v", m)
	}
	tile := string(receiverConstraints(constraints{lastN: -1, maxHeight: 180}))
	if strings.Contains(tile, "onStage") {
		t.Fatalf("tile view constraints name a source on stage: %s", tile)
	}
}

func TestSpeakerAtWithoutScriptIsNobody(t *testing.T) {
	now := time.Now()
	if speakerAt(now, now, 0, 5) != -1 || speakerAt(now, now, time.Second, 0) != -1 {
		t.Fatal("a speaker without an interval or senders")
	}
	if got := speakerAt(now, now.Add(-time.Second), time.Second, 5); got != 0 {
		t.Fatalf("before the start: %d, want 0", got)
	}
}

func TestMirrorPlanFollowsWhatTheBridgeForwarded(t *testing.T) {
	sc := DefaultScenario()
	sc.Participants, sc.Senders = 3, 2
	eps := buildEndpoints(sc, 5, time.Now())[0]
	a, b, r := eps[0], eps[1], eps[2]
	for _, e := range eps {
		e.recv.startMeasuring()
	}
	feed := func(rcv *simEndpoint, ssrc uint32, n int) {
		for i := range n {
			rcv.recv.onHeader(time.Now(), &clearHeader{ssrc: ssrc, seq: uint16(i)}, 100, false)
		}
	}
	feed(r, a.video[0].hdr.SSRC, 100) // r got a's 180p
	feed(r, b.video[2].hdr.SSRC, 5)   // and a few packets of b's 720p (a switch)
	feed(r, a.audio.hdr.SSRC, 100)    // and a's audio
	feed(b, a.video[1].hdr.SSRC, 100) // b got a's 360p, no audio
	plan := planFrom(eps)
	want := relayPlan{
		a.video[0].hdr.SSRC: {2},
		a.video[1].hdr.SSRC: {1},
		a.audio.hdr.SSRC:    {2}, // every audio SSRC to whoever got audio, never back to its sender
		b.audio.hdr.SSRC:    {2},
	}
	if len(plan) != len(want) {
		t.Fatalf("plan %v, want %v", plan, want)
	}
	// Another conference's audio is never planned to these receivers.
	sc.Conferences = 2
	two := buildEndpoints(sc, 5, time.Now())
	all := slices.Concat(two...)
	for _, e := range all {
		e.recv.startMeasuring()
	}
	feed(all[2], all[0].audio.hdr.SSRC, 100)
	for ssrc, to := range planFrom(all) {
		if ssrc == all[3].audio.hdr.SSRC || ssrc == all[4].audio.hdr.SSRC {
			t.Fatalf("conference 1's audio SSRC %d planned to %v", ssrc, to)
		}
	}
	for ssrc, to := range want {
		if !slices.Equal(plan[ssrc], to) {
			t.Errorf("SSRC %d goes to %v, want %v", ssrc, plan[ssrc], to)
		}
	}
}

func TestMedianAndSpreadOfWindows(t *testing.T) {
	v := []float64{0.5, 0.3, 0.4, 0.9, 0.2}
	if i := medianIndex(v, false); v[i] != 0.4 {
		t.Fatalf("median index %d (%v), want the 0.4", i, v[i])
	}
	if i := medianIndex([]float64{0, 3, 1}, true); i != 2 {
		t.Fatalf("median of the measured values: index %d, want 2 (value 1; 0 = not measured)", i)
	}
	med, lo, hi := spread([]float64{4, 1, 3, 2})
	if med != 2.5 || lo != 1 || hi != 4 {
		t.Fatalf("spread = %v %v %v, want 2.5 1 4", med, lo, hi)
	}
}

func TestGrowthSamplerReportsGrowthAtItsInterval(t *testing.T) {
	g := newGrowthSampler(30 * time.Second)
	t0 := time.Unix(1000, 0)
	if !g.due(t0) {
		t.Fatal("first sample not due")
	}
	g.record(t0, map[string]float64{"go_goroutines": 300, "go_memstats_heap_inuse_bytes": 1e6, "process_open_fds": 12})
	if g.due(t0.Add(29*time.Second)) || !g.due(t0.Add(30*time.Second)) {
		t.Fatal("due before or not at the interval")
	}
	g.record(t0.Add(600*time.Second), map[string]float64{"go_goroutines": 310, "go_memstats_heap_inuse_bytes": 3e6, "process_open_fds": 12})
	r := g.result()
	if len(r.Samples) != 2 || r.GoroutinesGrowth != 10 || r.HeapGrowthBytes != 2e6 || r.FDsGrowth != 0 || r.Samples[1].AtS != 600 {
		t.Fatalf("growth %+v", r)
	}
}

func TestParseGaugesNeedsEveryName(t *testing.T) {
	text := "# HELP go_goroutines x\ngo_goroutines 42\ngo_goroutines_other 1\nprocess_open_fds 9 1700000000\nsome{label=\"x\"} 3\n"
	m, err := parseGauges(bufio.NewScanner(strings.NewReader(text)), []string{"go_goroutines", "process_open_fds"})
	if err != nil || m["go_goroutines"] != 42 || m["process_open_fds"] != 9 {
		t.Fatalf("gauges %v, %v", m, err)
	}
	if _, err := parseGauges(bufio.NewScanner(strings.NewReader(text)), []string{"go_memstats_heap_inuse_bytes"}); err == nil {
		t.Fatal("a missing gauge gave no error")
	}
}

func TestLayerTallyGroupsByViewAndHeight(t *testing.T) {
	sc := DefaultScenario()
	sc.Participants, sc.Senders, sc.OnStageReceivers = 3, 1, 1
	eps := buildEndpoints(sc, 9, time.Now())[0]
	s, tile, stage := eps[0], eps[1], eps[2]
	if !stage.onStage || tile.onStage {
		t.Fatal("the last receiver should be the on-stage one")
	}
	for _, e := range eps {
		e.recv.startMeasuring()
	}
	primary := s.video[0].hdr.SSRC // the bridge forwards every encoding on the primary SSRC
	for i := range 60 {
		tile.recv.onHeader(time.Now(), &clearHeader{ssrc: primary, seq: uint16(i)}, 100, false)
		stage.recv.onHeader(time.Now(), &clearHeader{ssrc: primary, seq: uint16(i)}, 100, false)
		stage.recv.onHeader(time.Now(), &clearHeader{ssrc: s.audio.hdr.SSRC, seq: uint16(i)}, 100, false)
	}
	tile.recv.addSample(primary, 1000, 180)
	stage.recv.addSample(primary, 1000, 720)
	lt := newLayerTally()
	audio := audioSSRCs(eps)
	for _, e := range eps[1:] {
		lt.add(e, audio, 2*time.Second)
	}
	got := map[string]LayerCount{}
	for _, l := range lt.result() {
		got[l.View+"/"+string(rune('0'+l.Height/180))] = l
	}
	if l := got["tile/1"]; l.Streams != 1 || l.PacketsPerS != 30 {
		t.Errorf("tile 180p: %+v", l)
	}
	if l := got["on-stage/4"]; l.Streams != 1 || l.Receivers != 1 {
		t.Errorf("on-stage 720p: %+v", l)
	}
	if l := got["on-stage/0"]; l.Streams != 1 {
		t.Errorf("on-stage audio (no packet decrypted, known SSRC): %+v", l)
	}
}

func TestSkippedSilenceLeavesNoSequenceGap(t *testing.T) {
	a := newAudioStream(1, rand.New(rand.NewPCG(1, 1)))
	talk := false
	a.speaking = func(time.Time) bool { return talk }
	a.skipSilence = true
	buf := make([]byte, 1600)
	var seqs []uint16
	for i := range 12 {
		talk = i%3 == 0
		p := a.next(buf, time.Now())
		if (p != nil) != talk {
			t.Fatalf("packet %d: sent %v while speaking %v", i, p != nil, talk)
		}
		if p != nil {
			h, err := parseClearHeader(p, extTCC, extAudioLvl)
			if err != nil || h.level == 127 {
				t.Fatalf("packet %d: %v, level %d", i, err, h.level)
			}
			seqs = append(seqs, h.seq)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v have a gap", seqs)
		}
	}
	a.skipSilence = false
	talk = false
	if h, _ := parseClearHeader(a.next(buf, time.Now()), extTCC, extAudioLvl); h.level != 127 {
		t.Fatalf("silence sent with level %d, want 127", h.level)
	}
}

// Senders capture at their own phases unless AlignedSenders asks for the old worst case, and
// the same seed gives the same phases (the relay's endpoints are built alike).
func TestSendersHaveTheirOwnPhasesUnlessAligned(t *testing.T) {
	sc, err := Preset("meeting100")
	if err != nil {
		t.Fatal(err)
	}
	eps := buildEndpoints(sc, 11, time.Now())[0]
	again := buildEndpoints(sc, 11, time.Now())[0]
	phases := map[time.Duration]bool{}
	for i, e := range eps {
		if e.framePhase < 0 || e.framePhase >= time.Second/30 || e.keyPhase <= 0 || e.keyPhase > sc.KeyframeInterval {
			t.Fatalf("endpoint %d: frame phase %v, keyframe phase %v", i, e.framePhase, e.keyPhase)
		}
		if again[i].framePhase != e.framePhase || again[i].keyPhase != e.keyPhase {
			t.Fatalf("endpoint %d: phases differ for the same seed", i)
		}
		phases[e.framePhase] = true
	}
	if len(phases) < len(eps)*9/10 {
		t.Fatalf("%d distinct frame phases among %d endpoints", len(phases), len(eps))
	}
	sc.AlignedSenders = true
	for i, e := range buildEndpoints(sc, 11, time.Now())[0] {
		if e.framePhase != 0 || e.keyPhase != 0 {
			t.Fatalf("aligned: endpoint %d has phases %v, %v", i, e.framePhase, e.keyPhase)
		}
	}
}
