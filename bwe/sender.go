package bwe

// SenderConstraints aggregates, per sender source, the effective MaxHeight every receiver wants
// (JVB's "aggressive layer suspension"): the largest one, where -1 (unlimited) beats any height.
// A change of that maximum is what the bridge sends to the source's owner as
// SenderSourceConstraints. The first value for a source is always reported, so a lone receiver
// that has not spoken yet (initial max height 0) tells the sender to stop.
//
// Not safe for concurrent use.
type SenderConstraints struct {
	sources   map[string]*sourceReceivers // by source name
	receivers map[string]map[string]struct{}
}

type sourceReceivers struct {
	heights  map[string]int // by receiver id
	reported int            // last maximum returned as a change
}

// NewSenderConstraints is an empty aggregation.
func NewSenderConstraints() *SenderConstraints {
	return &SenderConstraints{
		sources:   make(map[string]*sourceReceivers),
		receivers: make(map[string]map[string]struct{}),
	}
}

// Set replaces receiver's effective max heights (source name -> MaxHeight; negative =
// unlimited). Sources the receiver had before and are missing from effective are dropped for
// it. It returns the sources whose maximum changed, with the new maximum, or nil.
func (c *SenderConstraints) Set(receiver string, effective map[string]int) (changed map[string]int) {
	prev := c.receivers[receiver]
	for source := range prev {
		if _, still := effective[source]; !still {
			changed = c.remove(receiver, source, changed)
		}
	}
	if len(effective) == 0 {
		delete(c.receivers, receiver)
		return changed
	}
	if prev == nil {
		prev = make(map[string]struct{}, len(effective))
		c.receivers[receiver] = prev
	}
	for source, h := range effective {
		if h < 0 {
			h = Unlimited
		}
		prev[source] = struct{}{}
		sr := c.sources[source]
		if sr == nil {
			sr = &sourceReceivers{heights: make(map[string]int), reported: -2} // -2: never reported
			c.sources[source] = sr
		}
		if old, ok := sr.heights[receiver]; ok && old == h {
			continue
		}
		sr.heights[receiver] = h
		changed = sr.report(source, changed)
	}
	return changed
}

// RemoveReceiver drops everything receiver contributed (it left or expired) and returns the
// sources whose maximum changed, or nil. A source left with no receivers falls to 0.
func (c *SenderConstraints) RemoveReceiver(receiver string) (changed map[string]int) {
	for source := range c.receivers[receiver] {
		changed = c.remove(receiver, source, changed)
	}
	delete(c.receivers, receiver)
	return changed
}

// RemoveSource forgets a source that its sender no longer has, without reporting anything.
func (c *SenderConstraints) RemoveSource(source string) {
	sr := c.sources[source]
	if sr == nil {
		return
	}
	for receiver := range sr.heights {
		if set := c.receivers[receiver]; set != nil {
			delete(set, source)
			if len(set) == 0 {
				delete(c.receivers, receiver)
			}
		}
	}
	delete(c.sources, source)
}

// Max is the current maximum for source over its receivers, and false when no receiver has a
// value for it (then the maximum is 0).
func (c *SenderConstraints) Max(source string) (int, bool) {
	sr := c.sources[source]
	if sr == nil || len(sr.heights) == 0 {
		return 0, false
	}
	return sr.max(), true
}

func (c *SenderConstraints) remove(receiver, source string, changed map[string]int) map[string]int {
	delete(c.receivers[receiver], source)
	sr := c.sources[source]
	if sr == nil {
		return changed
	}
	if _, ok := sr.heights[receiver]; !ok {
		return changed
	}
	delete(sr.heights, receiver)
	return sr.report(source, changed)
}

// report adds source's maximum to changed when it differs from the last one reported.
func (sr *sourceReceivers) report(source string, changed map[string]int) map[string]int {
	m := sr.max()
	if m == sr.reported {
		return changed
	}
	sr.reported = m
	if changed == nil {
		changed = make(map[string]int)
	}
	changed[source] = m
	return changed
}

// max is -1 when any receiver is unlimited, else the largest height, 0 with no receivers.
func (sr *sourceReceivers) max() int {
	m := 0
	for _, h := range sr.heights {
		if h < 0 {
			return Unlimited
		}
		m = max(m, h)
	}
	return m
}
