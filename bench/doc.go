// Package bench is the packet-forwarding load test for the bridge: it starts (or targets) a
// bridge, allocates conferences and endpoints over REST COLIBRI2 or, like jicofo, over COLIBRI2
// IQs through prosody (logged in as focus, in the brewery MUC, pipelined requests to the bridge's
// occupant JID), runs simulated endpoints that are real ICE + DTLS-SRTP clients sending opus and
// VP8 simulcast, and measures what the bridge forwards (rates, loss, reordering, latency, join
// and allocation time) against the bridge process's CPU and memory. A baseline mode pushes the
// same flow through a minimal in-process UDP relay, alternating with the bridge (--repeat).
// Two bridges linked by a relay per conference, as jicofo creates them, measure what the relay
// costs each bridge. At the end of a run it reads each receiver's bandwidth estimate and chosen
// layers from the bridge's /debug. Named presets (meeting100, lecture) describe whole meetings. Receivers stay cheap: they read
// in batches, account every packet from its clear RTP header and decrypt only a sample.
//
// It talks to the bridge only over the network and /proc, like an outside client would. It may
// import colibri for the COLIBRI2 XML schema only and xmppcomp/prosodytest for prosody and the
// focus client; it must never import sfu, xmppcomp itself or cmd/jvb internals.
package bench
