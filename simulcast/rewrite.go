package simulcast

import "encoding/binary"

// Rewrite runs one received packet of the track through the projection. pkt is the receiver's
// own copy of the decrypted RTP packet, the same bytes as received and described by in. On true
// the packet is to be sent and has been rewritten in place: sequence number, timestamp, SSRC
// (Stream().SSRC), for VP9 and AV1 the marker bit (set on the last forwarded spatial layer of a
// picture), and the codec's frame counters: VP8 and VP9 picture ID and TL0PICIDX, AV1
// frame_number. On false pkt is unchanged. A packet whose payload or descriptor offsets do not
// fit pkt is dropped like a lost one (its sequence number stays a gap).
func (p *Projection) Rewrite(pkt []byte, in Packet, now int64) bool {
	if len(pkt) < rtpFixedHeaderLen {
		return false
	}
	if in.Padding { // no payload to check: the projection closes its number
		var v verdict
		p.project(&in, now, &v)
		return false
	}
	var payload []byte
	switch in.Codec {
	case CodecVP8, CodecVP9:
		end := in.PayloadEnd
		if end == 0 {
			end = len(pkt)
		}
		if in.PayloadOffset < rtpFixedHeaderLen || in.PayloadOffset > end || end > len(pkt) {
			return false
		}
		payload = pkt[in.PayloadOffset:end]
		if in.Codec == CodecVP8 {
			if _, ok := vp8Layout(payload); !ok {
				return false
			}
		} else if _, _, ok := vp9Fields(payload); !ok {
			return false
		}
	case CodecAV1:
		if in.DDLen != 0 && (in.DDLen < av1DDMandatoryLen || in.DDOffset < rtpFixedHeaderLen ||
			in.DDOffset > len(pkt)-in.DDLen) {
			return false
		}
	}
	var v verdict
	if !p.project(&in, now, &v) {
		return false
	}
	SetSeq(pkt, v.seq)
	SetTimestamp(pkt, v.ts)
	SetSSRC(pkt, p.out.SSRC)
	switch in.Codec {
	case CodecVP8:
		writeVP8(payload, &in.Frame, &v)
	case CodecVP9:
		SetMarker(pkt, v.marker)
		setVP9Fields(payload, v.pic, v.tl0)
	case CodecAV1:
		SetMarker(pkt, v.marker)
		if in.DDLen != 0 && in.Frame.PictureID >= 0 {
			binary.BigEndian.PutUint16(pkt[in.DDOffset+1:], v.pic)
		}
	}
	return true
}

// writeVP8 overwrites the picture ID and TL0PICIDX of a VP8 descriptor whose layout was checked.
func writeVP8(payload []byte, f *FrameInfo, v *verdict) {
	l, _ := vp8Layout(payload)
	if i := l.pictureID; i >= 0 && f.PictureID >= 0 {
		if payload[i]&vp8M != 0 {
			binary.BigEndian.PutUint16(payload[i:], vp8M<<8|v.pic&0x7fff)
		} else {
			payload[i] = byte(v.pic & 0x7f)
		}
	}
	if l.tl0 >= 0 && f.TL0PICIDX >= 0 {
		payload[l.tl0] = v.tl0
	}
}
