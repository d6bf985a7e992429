// Package simulcast holds the per-receiver video forwarding logic of the bridge: reading the
// RTP and codec metadata that layer selection needs, the projection of a track's simulcast
// encodings and SVC layers onto the one stream a receiver gets (layer filtering, and rewriting
// RTP headers, VP8/VP9 payload descriptors and AV1 dependency descriptors in place), and the
// LRU pool of bridge-allocated send SSRCs used for SSRC rewriting.
//
// The packet functions run once per received or forwarded packet on the bridge's hot path: they
// never allocate, never panic on hostile input (they report ok=false instead) and never keep a
// reference to the buffer they are given. Everything here is pure logic: no goroutines, no
// globals, time is passed in.
//
// This package must never import gojvb/sfu, gojvb/colibri, gojvb/xmppcomp or gojvb/cmd: the media
// core calls into it, not the other way round.
package simulcast
