package transport

import "net/netip"

// Candidate is one ICE candidate as COLIBRI2/Jingle carry it.
type Candidate struct {
	Foundation string
	Component  int    // 1 (RTP); rtcp-mux is always used
	Protocol   string // "udp"
	Priority   uint32
	IP         string
	Port       int
	Type       string // "host", "srflx", "prflx", "relay"
	RelAddr    string
	RelPort    int
	Generation int
	Network    int
	ID         string
	TCPType    string
}

// Fingerprint is a DTLS certificate fingerprint with the DTLS role it announces.
type Fingerprint struct {
	Hash  string // "sha-256"
	Value string // upper-case hex pairs separated by ':'
	Setup string // "actpass", "active" or "passive"
}

// Description is the ICE/DTLS view of one side of a transport: what the bridge returns for an
// endpoint, or what the endpoint (through jicofo) tells the bridge.
type Description struct {
	Ufrag        string
	Pwd          string
	Candidates   []Candidate
	Fingerprints []Fingerprint
	RTCPMux      bool
}

// AdvertisedAddr is a public address announced as a candidate (JVB_ADVERTISE_IPS: "ip" or "ip#port").
// Port 0 means "the bridge's UDP port".
type AdvertisedAddr struct {
	IP   netip.Addr
	Port int
}
