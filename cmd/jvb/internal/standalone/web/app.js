// Standalone page of the Go videobridge: joins a room through the built-in focus (HTTP + long-poll,
// see docs/standalone.md), answers the focus's offers, munges SSRC simulcast like lib-jitsi-meet,
// and shows what the bridge says on the data channel. window.jvb* functions are used by the tests.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  pc: null, ep: null, token: null, room: null, version: 0, closed: false,
  local: null, simulcast: true, sim: null, candidates: [],
  dc: null, dcState: 'closed', serverHello: false, received: {}, messages: [],
  mids: {}, // mid -> {owner, source, dir} from the latest offer
  tiles: new Map(), // owner -> {fig, stream}
  poll: null,
};

async function api(path, body, signal) {
  const init = body === undefined ? {signal} : {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body), signal};
  const r = await fetch(path, init);
  if (r.status === 204) return null;
  const j = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) { const e = new Error(j.error || r.statusText); e.status = r.status; throw e; }
  return j;
}

function status(s) { $('status').textContent = s; }

function logMessage(line) {
  state.messages.push(line);
  if (state.messages.length > 100) state.messages.shift();
  $('messages').textContent = state.messages.join('\n');
}

function rnd32() {
  const a = new Uint32Array(1);
  do { crypto.getRandomValues(a); } while (a[0] === 0);
  return a[0];
}

// Parses an offer into mid -> {kind, owner, source, dir}: the page labels tiles and stats with it.
function parseOffer(sdp) {
  const mids = {};
  for (const sec of sdp.split(/\r\n(?=m=)/).slice(1)) {
    const lines = sec.split('\r\n');
    const info = {kind: lines[0].slice(2).split(' ')[0], owner: '', source: '', dir: 'sendrecv'};
    let mid = '';
    for (const l of lines) {
      if (l.startsWith('a=mid:')) mid = l.slice(6);
      else if (l.startsWith('a=msid:')) [info.owner, info.source] = l.slice(7).split(' ');
      else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l)) info.dir = l.slice(2);
    }
    mids[mid] = info;
  }
  return mids;
}

// Turns the single video SSRC (+RTX) of our answer into three simulcast SSRCs with a SIM group
// and one FID group per layer, keeping the same SSRCs across renegotiations (as lib-jitsi-meet).
function mungeSimulcast(sdp) {
  const parts = sdp.split(/\r\n(?=m=)/);
  for (let k = 1; k < parts.length; k++) {
    const last = k === parts.length - 1;
    const sec = parts[k].split('\r\n').filter((l) => l !== '');
    if (!sec[0].startsWith('m=video') || !sec.includes('a=mid:1')) continue;
    if (sec.some((l) => l.startsWith('a=ssrc-group:SIM'))) return sdp;
    const ssrcLines = sec.filter((l) => l.startsWith('a=ssrc:'));
    if (ssrcLines.length === 0) return sdp;
    const fid = sec.find((l) => l.startsWith('a=ssrc-group:FID'));
    const primary = fid ? Number(fid.split(' ')[1]) : Number(ssrcLines[0].slice(7).split(' ')[0]);
    const rtx = fid ? Number(fid.split(' ')[2]) : 0;
    const prefix = `a=ssrc:${primary} `;
    const attrs = ssrcLines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
    if (!state.sim || state.sim.primary !== primary) {
      state.sim = {primary, ssrcs: [primary, rnd32(), rnd32()], rtxs: rtx ? [rtx, rnd32(), rnd32()] : null};
    }
    const {ssrcs, rtxs} = state.sim;
    const out = sec.filter((l) => !l.startsWith('a=ssrc:') && !l.startsWith('a=ssrc-group:'));
    if (rtxs) ssrcs.forEach((s, i) => out.push(`a=ssrc-group:FID ${s} ${rtxs[i]}`));
    out.push(`a=ssrc-group:SIM ${ssrcs.join(' ')}`);
    for (const s of ssrcs.concat(rtxs || [])) for (const a of attrs) out.push(`a=ssrc:${s} ${a}`);
    parts[k] = out.join('\r\n') + (last ? '\r\n' : '');
    return parts.join('\r\n');
  }
  return sdp;
}

// Gives the three simulcast encodings their sizes: without this Chrome encodes all at full size.
async function scaleLayers() {
  const t = state.pc && state.pc.getTransceivers().find((x) => x.mid === '1');
  if (!t || !t.sender.track) return;
  const p = t.sender.getParameters();
  if (!p.encodings || p.encodings.length !== 3) return;
  const scale = [4, 2, 1], max = [200e3, 700e3, 2500e3];
  p.encodings.forEach((e, i) => { e.scaleResolutionDownBy = scale[i]; e.maxBitrate = max[i]; e.active = true; });
  await t.sender.setParameters(p).catch((e) => logMessage('setParameters: ' + e));
}

function gathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
}

async function applyOffer(offer, first) {
  const pc = state.pc;
  await pc.setRemoteDescription({type: 'offer', sdp: offer.sdp});
  state.mids = parseOffer(offer.sdp);
  if (first) {
    for (const t of pc.getTransceivers()) {
      const track = t.mid === '0' ? state.local.getAudioTracks()[0] : t.mid === '1' ? state.local.getVideoTracks()[0] : null;
      if (!track) continue;
      t.direction = 'sendrecv';
      await t.sender.replaceTrack(track);
      t.sender.setStreams(state.local);
    }
    setupDataChannel(pc.createDataChannel('JVB data channel', {protocol: 'http://jitsi.org/protocols/colibri'}));
  }
  const answer = await pc.createAnswer();
  const sdp = state.simulcast ? mungeSimulcast(answer.sdp) : answer.sdp;
  await pc.setLocalDescription({type: 'answer', sdp});
  if (first) await gathered(pc, 5000);
  await api('/api/answer', {endpointId: state.ep, token: state.token, version: offer.version, sdp,
    candidates: state.candidates});
  state.version = offer.version;
  if (state.simulcast) await scaleLayers();
  refreshStageOptions();
}

async function pollLoop() {
  state.poll = new AbortController();
  while (!state.closed) {
    try {
      const q = `endpoint=${state.ep}&token=${state.token}&after=${state.version}`;
      const o = await api('/api/offer?' + q, undefined, state.poll.signal);
      if (o && !state.closed) await applyOffer(o, false);
    } catch (e) {
      if (state.closed) return;
      logMessage('signalling: ' + e.message);
      if (e.status === 404 || e.status === 410) { status('removed by the focus'); return; }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function onTrack(e) {
  const stream = e.streams[0];
  if (!stream || stream.id === 'mixedmslabel') return; // the bridge's feedback sources
  let tile = state.tiles.get(stream.id);
  if (!tile) {
    const fig = document.createElement('figure');
    fig.className = 'tile remote';
    fig.dataset.owner = stream.id;
    const v = document.createElement('video');
    v.autoplay = true; v.playsInline = true; v.srcObject = stream;
    const cap = document.createElement('figcaption');
    cap.textContent = stream.id;
    fig.append(v, cap);
    $('videos').append(fig);
    tile = {fig, stream};
    state.tiles.set(stream.id, tile);
    stream.addEventListener('removetrack', () => {
      if (stream.getTracks().length === 0) { fig.remove(); state.tiles.delete(stream.id); refreshStageOptions(); }
    });
  }
  refreshStageOptions();
}

function refreshStageOptions() {
  const sel = $('stage'), keep = sel.value;
  const sources = Object.values(state.mids).filter((m) => m.kind === 'video' && m.dir === 'sendonly' && m.owner !== 'mixedmslabel');
  sel.replaceChildren(new Option('(none)', ''), ...sources.map((m) => new Option(`${m.source} (${m.owner})`, m.source)));
  sel.value = sources.some((m) => m.source === keep) ? keep : '';
}

function sendBridge(msg) {
  if (!state.dc || state.dc.readyState !== 'open') return false;
  state.dc.send(JSON.stringify(msg));
  logMessage('→ ' + JSON.stringify(msg));
  return true;
}

// Sends ReceiverVideoConstraints for the chosen on-stage source and height.
function sendConstraints() {
  const stage = $('stage').value, h = Number($('height').value);
  const msg = {colibriClass: 'ReceiverVideoConstraints', lastN: -1, onStageSources: stage ? [stage] : [],
    defaultConstraints: {maxHeight: stage ? 180 : h}, constraints: {}};
  if (stage) msg.constraints[stage] = {maxHeight: h};
  for (const [owner, t] of state.tiles) t.fig.classList.toggle('stage', !!stage && stage.startsWith(owner + '-'));
  return sendBridge(msg) ? msg : null;
}

function onBridgeMessage(m) {
  const cls = m.colibriClass || '(none)';
  state.received[cls] = (state.received[cls] || 0) + 1;
  switch (cls) {
    case 'ServerHello': state.serverHello = true; $('serverHello').textContent = 'yes ' + (m.version || ''); break;
    case 'ForwardedSources': $('forwarded').textContent = (m.forwardedSources || []).join(', ') || '(none)'; break;
    case 'DominantSpeakerEndpointChangeEvent': $('dominant').textContent = m.dominantSpeakerEndpoint || '-'; break;
    case 'ConnectionStats':
      $('bwe').textContent = Math.round((m.estimatedDownlinkBandwidth || 0) / 1000) + ' kb/s'; break;
  }
}

function setupDataChannel(dc) {
  state.dc = dc;
  const show = (s) => { state.dcState = s; $('dcState').textContent = s; };
  dc.onopen = () => { show('open'); $('sendConstraints').disabled = false; sendBridge({colibriClass: 'ClientHello'}); };
  dc.onclose = () => show('closed');
  dc.onmessage = (e) => {
    logMessage('← ' + e.data);
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    if (m && typeof m === 'object') onBridgeMessage(m);
  };
}

async function join(room, opts = {}) {
  if (state.pc) throw new Error('already joined');
  state.simulcast = opts.simulcast !== false;
  state.closed = false;
  status('starting camera');
  state.local = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: {ideal: 1280}, height: {ideal: 720}}});
  $('local').srcObject = state.local;
  const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  state.pc = pc;
  pc.ontrack = onTrack;
  pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) state.candidates.push(e.candidate.candidate); };
  pc.onconnectionstatechange = () => {
    status(`${state.room} as ${state.ep}: ${pc.connectionState}`);
    if (pc.connectionState === 'connected' && state.simulcast) scaleLayers();
  };
  status('joining');
  try {
    const r = await api('/api/join', {room});
    Object.assign(state, {ep: r.endpointId, token: r.token, room: r.room});
    $('localLabel').textContent = `me (${r.endpointId})`;
    $('room').value = r.room;
    $('joinBtn').disabled = true; $('leaveBtn').disabled = false;
    await applyOffer(r.offer, true);
  } catch (e) {
    await leave(); // releases the camera and whatever the focus allocated
    throw e;
  }
  pollLoop();
  return {endpointId: state.ep, room: state.room};
}

async function leave() {
  if (!state.pc) return;
  state.closed = true;
  if (state.poll) state.poll.abort();
  if (state.ep) await api('/api/leave', {endpointId: state.ep, token: state.token}).catch(() => {});
  state.pc.close();
  state.local.getTracks().forEach((t) => t.stop());
  for (const t of state.tiles.values()) t.fig.remove();
  state.tiles.clear();
  Object.assign(state, {pc: null, dc: null, dcState: 'closed', ep: null, token: null, version: 0, sim: null,
    candidates: [], mids: {}, serverHello: false, received: {}});
  $('dcState').textContent = 'closed'; $('serverHello').textContent = 'no';
  $('joinBtn').disabled = false; $('leaveBtn').disabled = true;
  status('left');
}

// Stats for tests and debugging: inbound/outbound RTP per stream, labelled with the offer's owner.
async function stats() {
  const out = {endpointId: state.ep, connectionState: state.pc ? state.pc.connectionState : 'closed',
    dcState: state.dcState, serverHello: state.serverHello, received: state.received,
    tiles: [...state.tiles.keys()], inbound: [], outbound: []};
  if (!state.pc) return out;
  const midOfTrack = {};
  for (const t of state.pc.getTransceivers()) if (t.mid !== null) midOfTrack[t.receiver.track.id] = t.mid;
  (await state.pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp') {
      const mid = r.mid || midOfTrack[r.trackIdentifier] || '';
      const info = state.mids[mid] || {};
      out.inbound.push({kind: r.kind, ssrc: r.ssrc, mid, owner: info.owner || '', source: info.source || '',
        packetsReceived: r.packetsReceived || 0, bytesReceived: r.bytesReceived || 0,
        framesDecoded: r.framesDecoded || 0, totalSamplesReceived: r.totalSamplesReceived || 0,
        frameHeight: r.frameHeight || 0});
    } else if (r.type === 'outbound-rtp') {
      out.outbound.push({kind: r.kind, ssrc: r.ssrc, packetsSent: r.packetsSent || 0,
        frameHeight: r.frameHeight || 0, qualityLimitationReason: r.qualityLimitationReason || ''});
    }
  });
  return out;
}

window.jvbJoin = join;
window.jvbLeave = leave;
window.jvbStats = stats;
window.jvbSendConstraints = sendConstraints;
window.jvbState = state;

$('joinForm').addEventListener('submit', (e) => {
  e.preventDefault();
  join($('room').value, {simulcast: $('simulcast').checked}).catch((err) => status('join failed: ' + err.message));
});
$('leaveBtn').addEventListener('click', () => leave());
$('sendConstraints').addEventListener('click', () => sendConstraints());
$('stage').addEventListener('change', () => sendConstraints());
$('height').addEventListener('change', () => sendConstraints());
window.addEventListener('pagehide', () => {
  if (state.ep && !state.closed) {
    // keepalive lets the request outlive the page; the API takes JSON only.
    fetch('/api/leave', {method: 'POST', keepalive: true, headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({endpointId: state.ep, token: state.token})}).catch(() => {});
  }
});
const params = new URLSearchParams(location.search);
if (params.get('room')) $('room').value = params.get('room');
if (params.get('autojoin') === '1') $('joinForm').requestSubmit();
