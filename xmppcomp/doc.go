// Package xmppcomp connects the bridge to its XMPP servers the way Jitsi
// Videobridge does: as an ordinary XMPP client (c2s) that logs in to the auth
// domain, joins the brewery MUC, publishes its stats in MUC presence and
// answers the IQs jicofo sends through the MUC (healthcheck, jabber:iq:version
// and COLIBRI2 conference-modify).
//
// The package owns the wire: TLS/SASL negotiation, stanza framing, size
// limits, the sender check, keep-alive pings and reconnection. What the
// bridge knows (stats, health, conference handling) is injected through
// Config, so this package must never import the media core (sfu), the
// COLIBRI2 implementation (colibri) or the command (cmd/jvb).
package xmppcomp
