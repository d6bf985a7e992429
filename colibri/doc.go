// Package colibri is the bridge's COLIBRI2 control surface: the jitsi:colibri2 schema in its XML
// (XMPP) and JSON (REST) forms, the request handler that applies conference-modify requests to
// the media core strictly in arrival order per meeting-id, the REST http.Handler, and the
// bridge-side expiry of idle endpoints and empty conferences.
//
// The handler talks to the media core only through the small Bridge, Conference and
// BridgeEndpoint interfaces declared in bridge.go; sfuadapter.go (the only file importing package
// sfu) adapts *sfu.Bridge to them. It must never import the XMPP client, the HTTP server wiring
// or any other package that imports colibri.
package colibri
