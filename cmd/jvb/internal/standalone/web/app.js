// Standalone page of the Go videobridge: joins a room through the built-in focus (HTTP + long-poll,
// see docs/standalone.md), answers the focus's offers, munges SSRC simulcast like lib-jitsi-meet,
// speaks the bridge channel like lib-jitsi-meet (ReceiverVideoConstraints when it opens; with SSRC
// rewriting, VideoSourcesMap/AudioSourcesMap turned into local renegotiations) and shows what the
// bridge says. window.jvb* functions are used by the tests.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  pc: null, ep: null, token: null, room: null, version: 0, closed: false,
  local: null, simulcast: true, sim: null, candidates: [],
  dc: null, dcState: 'closed', serverHello: false, received: {}, messages: [],
  rewriting: false, // the focus created our endpoint with ssrc-rewriting: sources come from maps
  offer: null, // the focus's latest offer {version, sdp, participants}
  roster: null, // the other endpoints in the room, from the focus (null: not known yet)
  mids: {}, // mid -> {kind, owner, source, dir} from the latest focus offer
  mapped: [], // with rewriting: {kind, mid, stream, ssrc, rtx, owner, source} per SSRC the bridge mapped
  remoteVersion: 0, // o= version of the last remote description set (focus offers and local ones)
  chain: Promise.resolve(), // serialises renegotiations
  mapPending: false,
  forwarded: null, dominant: '', senderConstraints: {},
  tiles: new Map(), // owner -> {fig, video, ids}
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

// Serialises renegotiations: offers from the focus and local ones driven by source maps.
function negotiate(fn) {
  const run = state.chain.then(fn);
  state.chain = run.catch((e) => logMessage('negotiation: ' + e.message));
  return run;
}

function sdpSections(sdp) {
  return sdp.split(/\r\n(?=m=)/).map((p) => p.split('\r\n').filter((l) => l !== ''));
}

// One recvonly m-line (sendonly from the offerer) for an SSRC the bridge mapped, built from the
// focus's own m-line of that kind, with an FID group for video: what lib-jitsi-meet's synthetic
// source-add puts in the remote description.
function mappedSection(template, m) {
  const out = [];
  for (const l of template) {
    if (l.startsWith('a=mid:')) out.push('a=mid:' + m.mid);
    else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l)) out.push('a=sendonly');
    else if (!l.startsWith('a=ssrc') && !l.startsWith('a=msid:')) out.push(l);
  }
  const msid = `${m.stream} ${m.stream}`;
  out.push('a=msid:' + msid);
  const ssrcs = [m.ssrc];
  if (m.kind === 'video' && m.rtx) {
    out.push(`a=ssrc-group:FID ${m.ssrc} ${m.rtx}`);
    ssrcs.push(m.rtx);
  }
  for (const s of ssrcs) out.push(`a=ssrc:${s} cname:${m.stream}`, `a=ssrc:${s} msid:${msid}`);
  return out;
}

// The remote description to set: the focus's offer plus one m-line per mapped SSRC (SSRC
// rewriting), with a fresh o= version.
function remoteDescription(sdp) {
  const parts = sdpSections(sdp);
  const head = parts[0];
  const mid = (sec) => (sec.find((l) => l.startsWith('a=mid:')) || '').slice(6);
  const extra = state.mapped.map((m) => {
    const template = parts.find((sec) => mid(sec) === (m.kind === 'audio' ? '0' : '1'));
    return template ? mappedSection(template, m) : null;
  }).filter((sec) => sec);
  state.remoteVersion++;
  for (let i = 0; i < head.length; i++) {
    if (head[i].startsWith('o=')) {
      const f = head[i].split(' ');
      f[2] = String(state.remoteVersion);
      head[i] = f.join(' ');
    } else if (head[i].startsWith('a=group:BUNDLE') && extra.length) {
      head[i] += ' ' + extra.map(mid).join(' ');
    }
  }
  return parts.concat(extra).map((sec) => sec.join('\r\n')).join('\r\n') + '\r\n';
}

async function setRemoteAndAnswer(sdp, first) {
  const pc = state.pc;
  await pc.setRemoteDescription({type: 'offer', sdp: remoteDescription(sdp)});
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
  const local = state.simulcast ? mungeSimulcast(answer.sdp) : answer.sdp;
  await pc.setLocalDescription({type: 'answer', sdp: local});
  return local;
}

// Applies an offer from the focus and sends it the answer.
async function applyOffer(offer, first) {
  state.offer = offer;
  state.roster = Array.isArray(offer.participants) ? offer.participants : null;
  state.mids = parseOffer(offer.sdp);
  const sdp = await setRemoteAndAnswer(offer.sdp, first);
  if (first) await gathered(state.pc, 5000);
  await api('/api/answer', {endpointId: state.ep, token: state.token, version: offer.version, sdp,
    candidates: state.candidates});
  state.version = offer.version;
  if (state.simulcast) await scaleLayers();
  refreshTiles();
}

async function pollLoop() {
  state.poll = new AbortController();
  while (!state.closed) {
    try {
      const q = `endpoint=${state.ep}&token=${state.token}&after=${state.version}`;
      const o = await api('/api/offer?' + q, undefined, state.poll.signal);
      if (o && !state.closed) await negotiate(() => applyOffer(o, false));
    } catch (e) {
      if (state.closed) return;
      logMessage('signalling: ' + e.message);
      if (e.status === 404 || e.status === 410) { status('removed by the focus'); return; }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

// VideoSourcesMap / AudioSourcesMap (SSRC rewriting), as lib-jitsi-meet handles them: a new SSRC
// becomes a new remote source (a local renegotiation adds its m-line); a known SSRC only changes
// owner and source name. Mappings are never removed.
function onSourcesMap(kind, list) {
  if (!state.rewriting || !Array.isArray(list)) return;
  let added = false;
  for (const m of list) {
    const ssrc = Number(m && m.ssrc);
    if (!Number.isInteger(ssrc) || ssrc <= 0 || ssrc > 0xffffffff || typeof m.source !== 'string') continue;
    const owner = typeof m.owner === 'string' ? m.owner : '';
    // A source that moved to another SSRC is no longer on its old one.
    for (const x of state.mapped) {
      if (x.kind === kind && x.source === m.source && x.ssrc !== ssrc) { x.source = ''; x.owner = ''; }
    }
    const known = state.mapped.find((x) => x.kind === kind && (x.ssrc === ssrc || x.rtx === ssrc));
    if (known) { Object.assign(known, {owner, source: m.source}); continue; }
    const n = state.mapped.filter((x) => x.kind === kind).length;
    const rtx = kind === 'video' ? Number(m.rtx) : 0;
    state.mapped.push({kind, mid: (kind === 'video' ? 'rv' : 'ra') + n, stream: `remote-${kind}-${n}`, ssrc,
      rtx: Number.isInteger(rtx) && rtx > 0 && rtx <= 0xffffffff && rtx !== ssrc ? rtx : 0, owner, source: m.source});
    added = true;
  }
  if (added && !state.mapPending) {
    state.mapPending = true;
    negotiate(async () => {
      state.mapPending = false;
      if (!state.pc || !state.offer || state.closed) return;
      await setRemoteAndAnswer(state.offer.sdp, false);
      if (state.simulcast) await scaleLayers();
      refreshTiles();
    });
  }
  refreshTiles();
}

// The owner and source of a remote m-line: from the focus's offer, or from the bridge's source
// maps with SSRC rewriting. Null for our own m-lines and the bridge's feedback sources.
function remoteLabel(mid) {
  if (state.rewriting) {
    const m = state.mapped.find((x) => x.mid === mid);
    return m && m.owner ? {kind: m.kind, owner: m.owner, source: m.source} : null;
  }
  const m = state.mids[mid];
  return m && m.dir === 'sendonly' && m.owner && m.owner !== 'mixedmslabel' ? m : null;
}

// One tile per remote participant still in the room, playing the tracks now labelled with it.
function refreshTiles() {
  const byOwner = new Map();
  for (const t of state.pc ? state.pc.getTransceivers() : []) {
    const l = t.mid === null ? null : remoteLabel(t.mid);
    if (!l || (state.roster && !state.roster.includes(l.owner))) continue;
    if (!byOwner.has(l.owner)) byOwner.set(l.owner, []);
    byOwner.get(l.owner).push(t.receiver.track);
  }
  for (const [owner, tile] of state.tiles) {
    if (!byOwner.has(owner)) { tile.fig.remove(); state.tiles.delete(owner); }
  }
  for (const [owner, tracks] of byOwner) {
    let tile = state.tiles.get(owner);
    if (!tile) {
      const fig = document.createElement('figure');
      fig.className = 'tile remote';
      fig.dataset.owner = owner;
      const video = document.createElement('video');
      video.autoplay = true; video.playsInline = true;
      const cap = document.createElement('figcaption');
      cap.textContent = owner;
      fig.append(video, cap);
      $('videos').append(fig);
      tile = {fig, video, ids: ''};
      state.tiles.set(owner, tile);
    }
    const ids = tracks.map((t) => t.id).sort().join(' ');
    if (ids !== tile.ids) { tile.ids = ids; tile.video.srcObject = new MediaStream(tracks); }
  }
  refreshStageOptions();
}

function refreshStageOptions() {
  const sel = $('stage'), keep = sel.value;
  const sources = [];
  for (const t of state.pc ? state.pc.getTransceivers() : []) {
    const l = t.mid === null ? null : remoteLabel(t.mid);
    if (l && l.kind === 'video' && l.source && state.tiles.has(l.owner)) sources.push(l);
  }
  sel.replaceChildren(new Option('(none)', ''), ...sources.map((m) => new Option(`${m.source} (${m.owner})`, m.source)));
  sel.value = sources.some((m) => m.source === keep) ? keep : '';
}

function sendBridge(msg) {
  if (!state.dc || state.dc.readyState !== 'open') return false;
  state.dc.send(JSON.stringify(msg));
  logMessage('→ ' + JSON.stringify(msg));
  return true;
}

// Sends ReceiverVideoConstraints for the chosen on-stage source and height (tile view when
// nothing is on stage: every source at the chosen height, 180 by default), as lib-jitsi-meet
// does when the channel opens and whenever the choice changes.
function sendConstraints() {
  const stage = $('stage').value, h = Number($('height').value);
  const msg = {colibriClass: 'ReceiverVideoConstraints', lastN: -1, onStageSources: stage ? [stage] : [],
    defaultConstraints: {maxHeight: stage ? 180 : h}, constraints: {}};
  if (stage) msg.constraints[stage] = {maxHeight: h};
  for (const [owner, t] of state.tiles) t.fig.classList.toggle('stage', !!stage && stage.startsWith(owner + '-'));
  return sendBridge(msg) ? msg : null;
}

function showSenderConstraints() {
  const e = Object.entries(state.senderConstraints);
  $('senderConstraints').textContent = e.length ? e.map(([s, h]) => `${s}: ${h}`).join(', ') : '-';
}

function onBridgeMessage(m) {
  const cls = m.colibriClass || '(none)';
  state.received[cls] = (state.received[cls] || 0) + 1;
  switch (cls) {
    case 'ServerHello': state.serverHello = true; $('serverHello').textContent = 'yes ' + (m.version || ''); break;
    case 'ForwardedSources':
      state.forwarded = Array.isArray(m.forwardedSources) ? m.forwardedSources.map(String) : [];
      $('forwarded').textContent = state.forwarded.join(', ') || '(none)';
      break;
    case 'DominantSpeakerEndpointChangeEvent':
      state.dominant = String(m.dominantSpeakerEndpoint || '');
      $('dominant').textContent = (state.dominant === state.ep ? `me (${state.dominant})` : state.dominant || '-') +
        (m.silence ? ' (silence)' : '');
      break;
    case 'SenderSourceConstraints':
      if (typeof m.sourceName === 'string' && Number.isFinite(m.maxHeight)) {
        state.senderConstraints[m.sourceName] = m.maxHeight;
        showSenderConstraints();
      }
      break;
    case 'VideoSourcesMap': onSourcesMap('video', m.mappedSources); break;
    case 'AudioSourcesMap': onSourcesMap('audio', m.mappedSources); break;
    case 'ConnectionStats':
      $('bwe').textContent = Math.round((m.estimatedDownlinkBandwidth || 0) / 1000) + ' kb/s'; break;
  }
  if (cls.endsWith('SourcesMap')) {
    $('maps').textContent = ['audio', 'video'].map((k) => `${state.mapped.filter((x) => x.kind === k).length} ${k}`).join(', ');
  }
}

function setupDataChannel(dc) {
  state.dc = dc;
  const show = (s) => { state.dcState = s; $('dcState').textContent = s; };
  dc.onopen = () => {
    show('open');
    $('sendConstraints').disabled = false;
    sendBridge({colibriClass: 'ClientHello'});
    sendConstraints(); // nothing is forwarded to us before this (initial-max-height-px = 0)
  };
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
  pc.ontrack = () => refreshTiles();
  pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) state.candidates.push(e.candidate.candidate); };
  pc.onconnectionstatechange = () => {
    status(`${state.room} as ${state.ep}: ${pc.connectionState}`);
    if (pc.connectionState === 'connected' && state.simulcast) scaleLayers();
  };
  status('joining');
  try {
    const r = await api('/api/join', {room, ssrcRewriting: opts.ssrcRewriting !== false});
    Object.assign(state, {ep: r.endpointId, token: r.token, room: r.room, rewriting: !!r.ssrcRewriting});
    $('localLabel').textContent = `me (${r.endpointId})`;
    $('room').value = r.room;
    $('ssrcMode').textContent = state.rewriting ? 'SSRC rewriting' : 'original SSRCs';
    $('joinBtn').disabled = true; $('leaveBtn').disabled = false;
    await negotiate(() => applyOffer(r.offer, true));
  } catch (e) {
    await leave(); // releases the camera and whatever the focus allocated
    throw e;
  }
  pollLoop();
  return {endpointId: state.ep, room: state.room, ssrcRewriting: state.rewriting};
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
    candidates: [], mids: {}, serverHello: false, received: {}, rewriting: false, offer: null, roster: null,
    mapped: [], mapPending: false, forwarded: null, dominant: '', senderConstraints: {}});
  for (const [id, text] of [['dcState', 'closed'], ['serverHello', 'no'], ['forwarded', '-'], ['dominant', '-'],
    ['maps', '-'], ['ssrcMode', '-'], ['bwe', '-']]) $(id).textContent = text;
  showSenderConstraints();
  refreshStageOptions();
  $('joinBtn').disabled = false; $('leaveBtn').disabled = true; $('sendConstraints').disabled = true;
  status('left');
}

// Stats for tests and debugging: inbound/outbound RTP per stream, labelled with the owner and
// source of its m-line (from the focus's offer, or from the source maps with SSRC rewriting).
async function stats() {
  const out = {endpointId: state.ep, connectionState: state.pc ? state.pc.connectionState : 'closed',
    dcState: state.dcState, serverHello: state.serverHello, received: state.received,
    ssrcRewriting: state.rewriting, forwarded: state.forwarded, dominant: state.dominant,
    mapped: state.mapped.map(({kind, ssrc, rtx, owner, source}) => ({kind, ssrc, rtx, owner, source})),
    tiles: [...state.tiles.keys()], inbound: [], outbound: [], remoteInbound: [],
    availableOutgoingBitrate: 0, roundTripTime: 0, at: performance.now()};
  if (!state.pc) return out;
  const midOfTrack = {};
  for (const t of state.pc.getTransceivers()) if (t.mid !== null) midOfTrack[t.receiver.track.id] = t.mid;
  const report = await state.pc.getStats();
  report.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) {
      const pair = report.get(r.selectedCandidatePairId);
      out.availableOutgoingBitrate = (pair && pair.availableOutgoingBitrate) || 0;
      out.roundTripTime = (pair && pair.currentRoundTripTime) || 0;
    } else if (r.type === 'remote-inbound-rtp') {
      out.remoteInbound.push({kind: r.kind, ssrc: r.ssrc, packetsLost: r.packetsLost || 0,
        fractionLost: r.fractionLost || 0, roundTripTime: r.roundTripTime || 0});
    } else if (r.type === 'inbound-rtp') {
      const mid = r.mid || midOfTrack[r.trackIdentifier] || '';
      const info = remoteLabel(mid) || {};
      out.inbound.push({kind: r.kind, ssrc: r.ssrc, mid, owner: info.owner || '', source: info.source || '',
        packetsReceived: r.packetsReceived || 0, bytesReceived: r.bytesReceived || 0,
        framesDecoded: r.framesDecoded || 0, totalSamplesReceived: r.totalSamplesReceived || 0,
        totalAudioEnergy: r.totalAudioEnergy || 0,
        frameHeight: r.frameHeight || 0});
    } else if (r.type === 'outbound-rtp') {
      out.outbound.push({kind: r.kind, ssrc: r.ssrc, packetsSent: r.packetsSent || 0, bytesSent: r.bytesSent || 0,
        targetBitrate: r.targetBitrate || 0,
        nackCount: r.nackCount || 0,
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
  join($('room').value, {simulcast: $('simulcast').checked, ssrcRewriting: $('ssrcRewriting').checked})
    .catch((err) => status('join failed: ' + err.message));
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
// ?ssrc-rewriting=0 joins with the original SSRCs and sources signalled in offers.
if (['0', 'false', 'off'].includes(params.get('ssrc-rewriting'))) $('ssrcRewriting').checked = false;
if (params.get('autojoin') === '1') $('joinForm').requestSubmit();
