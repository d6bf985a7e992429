// Package channel is the Jitsi "bridge channel" message layer: the JSON messages an endpoint and
// the bridge exchange over the SCTP data channel or the colibri WebSocket (and bridges over a
// relay). It decodes what endpoints send (Parse), encodes what the bridge sends (Encode), stamps
// the sender on forwarded messages (WithFrom) and rate-limits floods (RateLimiter).
//
// Every message is one JSON object with a mandatory string field "colibriClass". Field names and
// JSON types follow JVB's BridgeChannelMessage.kt and lib-jitsi-meet's BridgeChannel.ts; see
// shared/spec/media-plane.md §1.5 for the catalogue.
//
// Decoding is deliberately more lenient than JVB (which rejects unknown fields in several
// classes): unknown fields are ignored. It is strict where leniency would be unsafe or would change
// meaning: size and nesting are bounded before decoding, the input must be valid UTF-8 (it is
// forwarded as text), "colibriClass" must appear exactly once, and values that JVB's own
// validation rejects (negative heights other than -1, an unknown video type, a missing "to") are
// malformed. Go's encoding/json matches the other field names case-insensitively; only
// "colibriClass", "to", "msgPayload" and "from" are matched exactly, because those are the ones a
// receiving browser reads back.
//
// The package is pure logic: no goroutines, no globals with state, time passed in by the caller.
// It must never import other gojvb packages (it sits below sfu/, which imports it).
package channel
