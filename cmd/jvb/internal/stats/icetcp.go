package stats

// ICE-TCP (videobridge.ice.tcp): gojvb's own families, all 0 while it is off. Its drops of
// bad input share the UDP port's reasons (garbage, bad_integrity, ...); frames too long for a
// datagram buffer get their own reason.
func init() {
	metrics = append(metrics,
		gauge("ice_tcp_connections", "Open ICE-TCP connections.", func(r *Report) float64 { return float64(r.Bridge.Mux.TCP.Open) }),
		counter("ice_tcp_connections", "ICE-TCP connections accepted.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.Accepted }),
		counter("ice_tcp_connections_bound", "ICE-TCP connections a valid binding request tied to an endpoint.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.Bound }),
		counter("ice_tcp_connections_refused", "ICE-TCP connections closed at accept: over the connection caps.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.Refused }),
		counter("ice_tcp_connections_rejected", "ICE-TCP connections closed because they did not open with a valid STUN binding request.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.Rejected }),
		counter("ice_tcp_connections_timed_out", "ICE-TCP connections closed for silence.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.TimedOut }),
		counter("ice_tcp_write_failures", "ICE-TCP connections closed because a write failed or the peer read nothing for 5 s.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.WriteFailures }),
		counter("ice_tcp_packets_received", "Frames received on ICE-TCP connections.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.FramesReceived }),
		counter("ice_tcp_packets_sent", "Media datagrams sent on ICE-TCP connections.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.PacketsSent }),
		// Also in dropped_packets_total{reason="send_failed"}, like any datagram the kernel did not take.
		counter("ice_tcp_send_buffer_full", "Media datagrams not sent: the ICE-TCP connection's send buffer was full.", func(r *Report) uint64 { return r.Bridge.Mux.TCP.DroppedFull }),
	)
	drops = append(drops,
		struct {
			reason string
			value  func(r *Report) uint64
		}{"ice_tcp_oversize", func(r *Report) uint64 { return r.Bridge.Mux.TCP.DroppedOversize }},
	)
}
