package speech

import (
	"math"
	"time"
)

// Constants of the dominant speaker identification, as JVB uses them (jitsi-utils
// DominantSpeakerIdentification, after Volfin & Cohen). The paper works on spectral sub-bands
// of each frame; JVB (and this package) substitutes the audio level of each packet, cut into
// immediateBands bands of bandWidth levels.
const (
	maxLevel = 127

	// immediateBands is N1: the audio-level range 0..127 is cut into this many bands, and a
	// packet's "active sub-band count" is the index of the band its level falls in (0..12).
	immediateBands = 13
	bandWidth      = (maxLevel + immediateBands - 1) / immediateBands // 10

	// framesPerMedium is N2: immediates per medium block. mediumsPerLong is N3: medium blocks
	// in the (single) long block. The level history therefore covers 50 packets (1 s at 20 ms).
	framesPerMedium = 5
	mediumsPerLong  = 10
	historyLen      = framesPerMedium * mediumsPerLong

	// An immediate counts towards its medium block when it is above mediumThreshold; a medium
	// block counts towards the long block when it is above longThreshold (i.e. all 5 frames).
	mediumThreshold = 7
	longThreshold   = 4

	// A challenger replaces the dominant speaker when the log of the ratio of its score to the
	// dominant's exceeds these for the immediate, medium and long intervals respectively.
	thresholdImmediate = 3
	thresholdMedium    = 2
	thresholdLong      = 0

	// Poisson rates of the score of each interval (lambda in the paper's likelihood).
	lambdaImmediate = 0.78
	lambdaMedium    = 24
	lambdaLong      = 47

	// minScore keeps scores positive: they are divided and logged.
	minScore = 1e-10

	// levelIdleTimeout: a speaker with no level for this long is presumed silent, and a zero
	// level is pushed into its history for every further levelIdleTimeout of quiet.
	levelIdleTimeout = 40 * time.Millisecond

	// speakerIdleTimeout: a non-dominant speaker quiet for this long stops competing (its
	// state is forgotten) until it is heard again.
	speakerIdleTimeout = time.Hour

	// minLevelWindow is the number of levels (15 s of 20 ms packets) over which a new, higher
	// noise floor is estimated before the speaker's minimum level is raised.
	minLevelWindow = 15 * 1000 / 20
)

// scoreTable holds the natural log of the speech activity score for each possible count of
// active sub-bands (immediate), active frames (medium) and active medium blocks (long). The
// decision only ever compares logs of ratios, so the logs are what is kept.
type scoreTable struct {
	immediate [immediateBands]float64
	medium    [framesPerMedium + 1]float64
	long      [mediumsPerLong + 1]float64
}

func newScoreTable() scoreTable {
	var t scoreTable
	for v := range t.immediate {
		t.immediate[v] = math.Log(activityScore(v, immediateBands, lambdaImmediate))
	}
	for v := range t.medium {
		t.medium[v] = math.Log(activityScore(v, framesPerMedium, lambdaMedium))
	}
	for v := range t.long {
		t.long[v] = math.Log(activityScore(v, mediumsPerLong, lambdaLong))
	}
	return t
}

// activityScore is the paper's log-likelihood ratio of speech over non-speech for active
// elements out of total: a binomial (p = 1/2) likelihood for speech against an exponential one
// with rate lambda for noise, clamped to minScore.
func activityScore(active, total int, lambda float64) float64 {
	s := math.Log(binomial(total, active)) + float64(total)*math.Log(0.5) -
		math.Log(lambda) + lambda*float64(active)
	return max(s, minScore)
}

// binomial returns n choose k as a float (n is at most 13 here, so it is exact).
func binomial(n, k int) float64 {
	if k < 0 || k > n {
		return 0
	}
	k = min(k, n-k)
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// speaker is the level history and scores of one endpoint.
type speaker struct {
	id  string
	seq uint64 // first-heard order; ties are resolved in favour of the earlier one

	levels [historyLen]uint8 // ring of levels (0 = silence, 127 = loudest)
	head   int               // index of the most recent level in levels

	// minLevel is the speaker's noise floor (0 = not known yet); levels within one band of
	// it are treated as silence so that a noisy microphone does not look like speech.
	minLevel     uint8
	nextMin      uint8 // running minimum of the current estimation window (0 = none)
	nextMinCount int

	last      time.Time // time of the last real level
	idleFills int       // zero levels pushed since last because of levelIdleTimeout

	// Counts evaluated at the last decision.
	immediate, medium, long int

	spoke     bool      // spokeAt is valid
	spokeAt   time.Time // last decision at which the long interval showed speech
	competing bool      // false after speakerIdleTimeout of quiet (never for the dominant)
}

func (s *speaker) push(level uint8) {
	s.head++
	if s.head == historyLen {
		s.head = 0
	}
	s.levels[s.head] = level
}

// level records a real level at now; the caller has checked that now is not before s.last.
func (s *speaker) level(level uint8, now time.Time) {
	s.fillIdle(now)
	s.last = now
	s.idleFills = 0
	s.competing = true
	s.push(level)
	s.trackMinLevel(level)
}

// fillIdle pushes the zero levels owed for the quiet time between s.last and now: one for
// every full levelIdleTimeout beyond the first, as JVB's idle timer does.
func (s *speaker) fillIdle(now time.Time) {
	gap := now.Sub(s.last)
	if gap <= levelIdleTimeout {
		return
	}
	owed := int(min((gap-1)/levelIdleTimeout, historyLen+1))
	for ; s.idleFills < owed; s.idleFills++ {
		if s.idleFills < historyLen {
			s.push(0)
		}
	}
}

// trackMinLevel follows the speaker's noise floor: a lower non-zero level lowers it at once;
// after minLevelWindow higher levels it rises to the geometric mean of the old floor and the
// lowest level of the window (a slow rise, as the floor is a minimum).
func (s *speaker) trackMinLevel(level uint8) {
	switch {
	case level == 0:
	case s.minLevel == 0 || level < s.minLevel:
		s.minLevel, s.nextMin, s.nextMinCount = level, 0, 0
	case s.nextMin == 0:
		s.nextMin, s.nextMinCount = level, 1
	default:
		s.nextMin = min(s.nextMin, level)
		s.nextMinCount++
		if s.nextMinCount >= minLevelWindow {
			s.minLevel = uint8(math.Sqrt(float64(s.minLevel) * float64(s.nextMin)))
			s.nextMin, s.nextMinCount = 0, 0
		}
	}
}

// evaluate recomputes the immediate, medium and long counts from the history.
func (s *speaker) evaluate(now time.Time) {
	floor := int(s.minLevel) + bandWidth
	longCount, i := 0, s.head
	for m := range mediumsPerLong {
		frames := 0
		for f := range framesPerMedium {
			l := int(s.levels[i])
			if l < floor {
				l = 0
			}
			band := l / bandWidth
			if m == 0 && f == 0 {
				s.immediate = band
			}
			if band > mediumThreshold {
				frames++
			}
			if i--; i < 0 {
				i = historyLen - 1
			}
		}
		if m == 0 {
			s.medium = frames
		}
		if frames > longThreshold {
			longCount++
		}
	}
	s.long = longCount
	if longCount > 0 {
		s.spoke, s.spokeAt = true, now
	}
}

// reset forgets everything but the identity, as if the speaker had never been heard.
func (s *speaker) reset() {
	*s = speaker{id: s.id, seq: s.seq, last: s.last}
}
