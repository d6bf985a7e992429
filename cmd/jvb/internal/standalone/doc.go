// Package standalone lets browsers meet through the bridge without prosody or jicofo: it is a
// small built-in focus plus an embedded web page. The focus plays jicofo's role for the page —
// it allocates every endpoint through the same COLIBRI2 Modify call the XMPP path uses, turns
// the bridge's answer into an SDP offer like the one jicofo and lib-jitsi-meet would build
// (BUNDLE, rtcp-mux, actpass, the bridge's feedback sources, an SCTP data channel, one recvonly
// m-line per remote source — none for a page with SSRC rewriting, which learns them from the
// bridge's source maps), and forwards the browser's answer (ICE, DTLS, sources with SIM groups)
// back to the bridge. The page and the focus talk a minimal JSON-over-HTTP protocol
// with long-polling, documented in docs/standalone.md.
//
// It sits on top of package colibri and must never import package sfu or its sub-packages
// beyond the plain transport description types: everything reaches the bridge through Modify.
package standalone
