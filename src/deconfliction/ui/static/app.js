// The common operational picture: what one party may see, live, on a map.
import { LANGS, pickLanguage, translator } from "./i18n.js";
import {
  affiliation, alertTimes, altitudeText, circlePoints, degMin, duration, hhmm, sidc,
  speedText, unwrap, utcStamp, NM_M,
} from "./geo.js";
import { CONFLICT_RED, CopMap, DRAFT, GROUPS, SELECTED, symbolImage } from "./map.js";
import { witnessOnce } from "./witness.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "deconfliction.token";
const LANG_KEY = "deconfliction.lang"; // a language picked by hand, for this tab's session
const TRAIL_POINTS = 12; // positions kept per track for its history trail
const TRACK_LIST_MAX = 150; // the side list shows this many; the map shows them all
const WITNESS_S = 60; // how often the map checks and countersigns the audit log

const COLORS = { FR: "#2b6cb0", RU: "#c53030", UK: "#2f855a" };
function colorOf(party) {
  if (COLORS[party]) return COLORS[party];
  let h = 0;
  for (const ch of party) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 60% 40%)`;
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  lang: pickLanguage([], [sessionStorage.getItem(LANG_KEY), ...(navigator.languages || [navigator.language])].filter(Boolean)),
  party: null,
  partners: [],
  picture: { records: [], conflicts: [], links: [], tactical: [] },
  tracks: [],
  trails: new Map(), // party/id -> [[lon, lat], ...]
  selected: null, // conflict id
  thread: null,
  draft: null, // {volumes}
  draftConflicts: [],
  lastEventId: 0,
  day0: null,
  playing: null, // interval id
  demoLogin: false,
};
let t = translator(state.lang);
let cop = null;

async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
  }
  let r = await fetch(path, { ...opts, headers });
  // 503: the database is failing over or restarting; try again as Retry-After says, a few times
  for (let i = 0; r.status === 503 && i < 5; i++) {
    const wait = Math.min(10, Number(r.headers.get("Retry-After")) || 1);
    await new Promise((done) => setTimeout(done, wait * 1000));
    r = await fetch(path, { ...opts, headers });
  }
  const type = r.headers.get("content-type") || "";
  const body = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const msg = body && body.detail ? body.detail : `HTTP ${r.status}`;
    const err = new Error(msg);
    err.status = r.status;
    err.body = body;
    throw err;
  }
  return body;
}

function problemText(e) {
  return e.body && e.body.errors ? e.body.errors.map((x) => `${x.pointer}: ${x.reason}`).join("; ") : e.message;
}

// --- server-sent events over fetch (EventSource cannot send an Authorization header) --------
async function streamEvents(path, onEvent, getLastId) {
  for (;;) {
    try {
      const headers = { Authorization: `Bearer ${state.token}` };
      const last = getLastId ? getLastId() : null;
      if (last) headers["Last-Event-ID"] = String(last);
      const r = await fetch(path, { headers });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { id: null, event: "message", data: "" };
          for (const line of chunk.split("\n")) {
            if (line.startsWith("id: ")) ev.id = line.slice(4);
            else if (line.startsWith("event: ")) ev.event = line.slice(7);
            else if (line.startsWith("data: ")) ev.data += line.slice(6);
          }
          if (ev.data) onEvent(ev);
        }
      }
    } catch (e) {
      console.warn("stream", path, e.message);
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

// --- language ----------------------------------------------------------------------------------
function applyWords() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").value = state.lang;
  $("play").textContent = state.playing ? t("pause") : t("play");
}

async function setLanguage(lang) {
  state.lang = LANGS.includes(lang) ? lang : "en";
  t = translator(state.lang);
  applyWords();
  if (!state.party) return;
  cop.setLanguage(state.lang, t);
  renderLayerSwitches();
  renderLegend();
  renderConflicts();
  renderLinks();
  renderWitness();
  renderTracksList();
  setTimeLabel();
  await loadPhrasebook();
  await loadThread();
}

// --- login -------------------------------------------------------------------------------------
async function demoParties() {
  try {
    const r = await fetch("/v1/dev/parties");
    return r.ok ? (await r.json()).parties : null;
  } catch {
    return null;
  }
}

async function showLogin(message) {
  $("login").hidden = false;
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login-error").textContent = message || "";
  const parties = await demoParties();
  state.demoLogin = parties !== null;
  $("demo-banner").hidden = !state.demoLogin;
  if (parties && parties.length) {
    $("dev-login").hidden = false;
    const box = $("dev-parties");
    box.textContent = "";
    for (const p of parties) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${p.id} (${p.name})`;
      b.dataset.party = p.id;
      b.addEventListener("click", async () => {
        const r = await fetch(`/v1/dev/token?party=${encodeURIComponent(p.id)}`);
        if (!r.ok) { $("login-error").textContent = `HTTP ${r.status}`; return; }
        login((await r.json()).token);
      });
      box.append(b, " ");
    }
  }
}

async function login(token) {
  state.token = token.trim();
  let me;
  try {
    me = await api("/v1/me");
  } catch (e) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    return showLogin(e.message);
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  state.party = me.party;
  state.partners = me.partners || [];
  // the picture opens in the party's languages (its agreements), unless one was picked here
  const picked = sessionStorage.getItem(LANG_KEY);
  state.lang = picked || pickLanguage(me.languages, navigator.languages || [navigator.language]);
  t = translator(state.lang);
  applyWords();
  if (!state.demoLogin) {
    state.demoLogin = (await demoParties()) !== null;
    $("demo-banner").hidden = !state.demoLogin;
  }
  start();
}

// --- the picture: plans and areas ----------------------------------------------------------------
function volumeRings(v) {
  const fp = v.footprint;
  if (fp.type === "Circle") return [circlePoints(fp.center[0], fp.center[1], fp.radius_m)];
  return fp.coordinates.map((r) => unwrap(r));
}

// a record is known by its owner and its id (ids are per owner); a notice names no id
function sideKey(side) { return side.id == null ? null : `${side.owner}/${side.id}`; }

function inConflict() {
  const ids = new Map();
  for (const c of state.picture.conflicts) {
    for (const side of [c.a, c.b]) if (sideKey(side)) ids.set(sideKey(side), c.id);
  }
  return ids;
}

function fmtAlt(lo, hi) { return `${Math.round(lo)}–${Math.round(hi)} ${t("m")}`; }

function groupOf(item) {
  if (item.kind === "area") return "areas";
  return item.record.owner === state.party ? "own" : "others";
}

function buildRecords() {
  const conflicted = inConflict();
  const features = [];
  const labels = [];
  const selected = [];
  const pair = new Set();
  if (state.selected) {
    const c = state.picture.conflicts.find((x) => x.id === state.selected);
    if (c) for (const side of [c.a, c.b]) if (sideKey(side)) pair.add(sideKey(side));
  }
  for (const item of state.picture.records) {
    const rec = item.record;
    const group = groupOf(item);
    const color = colorOf(rec.owner);
    for (const v of rec.volumes) {
      const rings = volumeRings(v);
      const props = {
        id: rec.id, owner: rec.owner, kind: item.kind, level: item.level, group, color,
        dash: item.level === "extent" || item.kind === "area",
        conflict: conflicted.has(sideKey(rec)),
        t0: Date.parse(v.time_start), t1: Date.parse(v.time_end),
        name: rec.name || "", state: rec.state || "", category: rec.category || "",
        alt: fmtAlt(v.alt_lower_m, v.alt_upper_m),
        window: `${hhmm(Date.parse(v.time_start))}–${hhmm(Date.parse(v.time_end))}`,
      };
      const geometry = { type: "Polygon", coordinates: rings };
      features.push({ type: "Feature", properties: props, geometry });
      if (pair.has(sideKey(rec))) selected.push({ type: "Feature", properties: { t0: props.t0, t1: props.t1 }, geometry });
      const top = rings[0].reduce((a, b) => (b[1] > a[1] ? b : a));
      labels.push({ type: "Feature", properties: { ...props, label: rec.name ? `${rec.id}\n${rec.name}` : rec.id },
                    geometry: { type: "Point", coordinates: top } });
    }
  }
  cop.setRecords(features, labels, selected);
  $("map").dataset.selectedPair = [...pair].sort().join(" ");
}

function buildDraft() {
  const feats = [];
  if (state.draft) {
    for (const v of state.draft.volumes) {
      feats.push({ type: "Feature", properties: { conflict: state.draftConflicts.length > 0 },
                   geometry: { type: "Polygon", coordinates: volumeRings(v) } });
    }
  } else if (cop.drawing) {
    const pts = cop.drawing.points;
    for (const p of pts) feats.push({ type: "Feature", properties: { conflict: false }, geometry: { type: "Point", coordinates: p } });
    if (pts.length >= 2) feats.push({ type: "Feature", properties: { conflict: false }, geometry: { type: "LineString", coordinates: unwrap(pts) } });
  }
  cop.setDraft(feats);
}

// --- the picture: live tracks ---------------------------------------------------------------------
function trackKey(tr) { return `${tr.party}/${tr.id}`; }

// one update of the live tracks: arrays for the map's track layer (no GeoJSON; labels are made
// by the map only for the tracks it draws alone in view)
const AFF_INDEX = { F: 0, N: 1, U: 2 };
const SIDC = new Map(); // class/affiliation -> symbol code
function applyTracks(tracks) {
  state.tracks = tracks;
  const alerted = new Set();
  for (const a of state.picture.tactical || []) for (const k of a.tracks || [a.track]) alerted.add(k);
  const n = tracks.length;
  const d = {
    n, lon: new Float64Array(n), lat: new Float64Array(n), course_deg: new Float64Array(n),
    speed_mps: new Float64Array(n), aff: new Uint8Array(n), alert: new Uint8Array(n),
    sidc: new Array(n), keys: new Array(n), colors: new Array(n), trails: new Array(n),
  };
  const seen = new Set();
  const affOf = new Map(); // party -> affiliation
  for (let i = 0; i < n; i++) {
    const tr = tracks[i];
    const key = trackKey(tr);
    seen.add(key);
    let aff = affOf.get(tr.party);
    if (!aff) { aff = affiliation(tr.party, state.party, state.partners); affOf.set(tr.party, aff); }
    const ck = `${tr.class}/${aff}`;
    let code = SIDC.get(ck);
    if (!code) { code = sidc(tr.class, aff); SIDC.set(ck, code); }
    tr.sidc = code;
    d.lon[i] = tr.lon;
    d.lat[i] = tr.lat;
    d.course_deg[i] = tr.track_deg || 0;
    d.speed_mps[i] = tr.gs_mps || 0;
    d.aff[i] = AFF_INDEX[aff];
    d.alert[i] = alerted.has(key) ? 1 : 0;
    d.sidc[i] = code;
    d.keys[i] = key;
    d.colors[i] = colorOf(tr.party);
    let trail = state.trails.get(key);
    if (!trail) { trail = []; state.trails.set(key, trail); }
    const last = trail[trail.length - 1];
    if (!last || last[0] !== tr.lon || last[1] !== tr.lat) {
      trail.push([tr.lon, tr.lat]);
      if (trail.length > TRAIL_POINTS) trail.shift();
    }
    d.trails[i] = trail;
  }
  if (state.trails.size > seen.size) for (const k of state.trails.keys()) if (!seen.has(k)) state.trails.delete(k);
  const units = { FL: t("FL"), m: t("m"), kt: t("kt") };
  cop.setTracks(d, (i) => {
    const tr = tracks[i];
    const second = [altitudeText(tr.alt_m, tr.class, units), speedText(tr.gs_mps, units)].filter(Boolean).join(" ");
    return second ? `${tr.id}\n${second}` : tr.id;
  });
  renderTracksList();
}

function renderTracksList() {
  const ul = $("tracks");
  ul.textContent = "";
  const n = state.tracks.length;
  $("track-count").textContent = t("countTracks", { n });
  for (const tr of state.tracks.slice(0, TRACK_LIST_MAX)) {
    const li = document.createElement("li");
    li.dataset.id = tr.id;
    li.dataset.party = tr.party;
    li.dataset.lon = String(tr.lon);
    li.dataset.lat = String(tr.lat);
    li.dataset.sidc = tr.sidc || "";
    const alt = altitudeText(tr.alt_m, tr.class, t);
    const spd = speedText(tr.gs_mps, t);
    li.textContent = [`${tr.party} ${tr.id}`, degMin(tr.lon, tr.lat, 1), alt, spd].filter(Boolean).join(" · ");
    ul.append(li);
  }
  if (n > TRACK_LIST_MAX) {
    const li = document.createElement("li");
    li.textContent = `… ${n - TRACK_LIST_MAX} ${t("more")}`;
    ul.append(li);
  }
}

// --- controls: layer switches, legend ------------------------------------------------------------
const GROUP_WORDS = { own: "layerOwn", others: "layerOthers", areas: "layerAreas", tracks: "layerTracks",
                      conflicts: "layerConflicts", labels: "layerLabels" };

function renderLayerSwitches() {
  const box = $("layers");
  box.textContent = "";
  for (const g of Object.keys(GROUPS)) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.checked = cop.visible[g];
    input.dataset.group = g;
    input.addEventListener("change", () => cop.setGroup(g, input.checked));
    label.append(input, " ", t(GROUP_WORDS[g]));
    box.append(label);
  }
}

function symbolDataUrl(code) {
  const img = symbolImage(code, 16);
  const c = document.createElement("canvas");
  c.width = img.width;
  c.height = img.height;
  c.getContext("2d").putImageData(img, 0, 0);
  return c.toDataURL();
}

function renderLegend() {
  const box = $("legend");
  box.textContent = "";
  const row = (sw, text) => {
    const div = document.createElement("div");
    div.append(sw, text);
    box.append(div);
  };
  const line = (color, style, width = 2, fill = "transparent") => {
    const s = document.createElement("span");
    s.className = "sw";
    s.style.border = `${width}px ${style} ${color}`;
    s.style.background = fill;
    return s;
  };
  const me = colorOf(state.party);
  const other = colorOf(state.partners[0] || "RU");
  row(line(me, "solid", 2, "rgba(43,108,176,0.08)"), t("lgOwnFull"));
  row(line(other, "solid"), t("lgOtherFull"));
  row(line(other, "dashed"), t("lgOtherExtent"));
  const hatch = line("#5a4646", "dotted");
  hatch.style.backgroundImage = "repeating-linear-gradient(-45deg, rgba(90,70,70,0.5) 0 1px, transparent 1px 5px)";
  row(hatch, t("lgArea"));
  row(line(CONFLICT_RED, "solid", 3), t("lgConflict"));
  row(line(SELECTED, "solid", 5), t("lgSelected"));
  row(line(DRAFT, "dashed"), t("lgDraft"));
  for (const [aff, key] of [["F", "lgFriend"], ["N", "lgNeutral"], ["U", "lgUnknown"]]) {
    const img = document.createElement("img");
    img.alt = "";
    img.src = symbolDataUrl(sidc("fixed-wing", aff));
    img.dataset.sidc = sidc("fixed-wing", aff);
    row(img, t(key));
  }
  row(line("#1b2430", "solid"), t("lgLeader"));
  row(line("#2b6cb0", "dotted"), t("lgTrail"));
}

// --- conflicts and tactical alerts ----------------------------------------------------------------
function renderConflicts() {
  renderAlerts();
  const ul = $("conflicts");
  ul.textContent = "";
  if (!state.picture.conflicts.length && !(state.picture.tactical || []).length) {
    const li = document.createElement("li");
    li.textContent = t("noConflicts");
    ul.append(li);
  }
  for (const c of state.picture.conflicts) {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    if (c.id === state.selected) li.className = "selected";
    const b = document.createElement("button");
    const other = c.a.owner === state.party ? c.b : c.a;
    const mine = c.a.owner === state.party ? c.a : c.b;
    // a notice gives no closeness (gaps null) and no id of the other side
    const g = c.gaps;
    const overlap = g && g.horizontal_m === 0 && g.vertical_m === 0 && g.time_s === 0;
    const sev = document.createElement("span");
    sev.className = overlap || !g ? "sev-overlap" : "sev-near";
    sev.textContent = !g ? "" : overlap ? t("overlap") : `${(g.horizontal_m / NM_M).toFixed(1)} ${t("nm")} ${t("apart")}`;
    b.append(`${mine.id} × ${other.id ?? "—"} (${other.owner}) · ${hhmm(Date.parse(c.time_start))}–${hhmm(Date.parse(c.time_end))} · `, sev);
    if (!other.volumes.length) b.append(" ", t("notice"));
    b.addEventListener("click", () => selectConflict(c.id));
    li.append(b);
    ul.append(li);
  }
}

function alertText(a, now) {
  const when = alertTimes(a);
  if (a.kind === "tactical") {
    let s = `⚠ ${a.tracks.map((r) => r ?? `${a.with || "?"}/—`).join(" × ")} · `;
    if (when.cpa === null) s += `${t("cpa")}: ${t("timeUnknown")}`;
    else if (when.cpa > now) s += `${t("cpaIn")} ${duration((when.cpa - now) / 1000, t)}`;
    else s += t("cpaPassed");
    if (typeof a.d_cpa_m === "number") s += ` · ${t("cpa")} ${(a.d_cpa_m / NM_M).toFixed(1)} ${t("nm")} / ${Math.round(a.dz_cpa_m || 0)} ${t("m")}`;
    if (a.lost) s += ` · ${t("lost")}`;
    return s;
  }
  if (a.kind === "area") {
    // below what the agreement releases, the other side's track or area comes unnamed
    const head = `⚠ ${a.track ?? `${a.with || "?"}/—`}`;
    const area = a.area ?? `${a.with || "?"}/—`;
    if (when.enter === null) return `${head} → ${area} · ${t("entryUnknown")}`;
    if (when.enter > now) return `${head} ${t("entersIn", { area, d: duration((when.enter - now) / 1000, t) })}`;
    if (when.exit !== null && when.exit > now) return `${head} ${t("leavesIn", { area, d: duration((when.exit - now) / 1000, t) })}`;
    if (when.exit !== null) return `${head} ${t("leftAgo", { area, d: duration((now - when.exit) / 1000, t) })}`;
    return `${head} ${t("insideArea", { area })}`;
  }
  return `⚠ ${a.track} ${t("outside")} ${a.intent}`;
}

function renderAlerts() {
  const ul = $("alerts");
  ul.textContent = "";
  const now = Date.now();
  for (const a of state.picture.tactical || []) {
    const li = document.createElement("li");
    li.dataset.kind = a.kind;
    li.className = "tactical";
    const when = alertTimes(a);
    const at = a.kind === "tactical" ? when.cpa : when.enter;
    if (at !== null) li.dataset.at = String(at);
    li._alert = a;
    li.textContent = alertText(a, now);
    li.addEventListener("click", () => focusTracks(a.tracks || [a.track]));
    ul.append(li);
  }
}

// counted down on this machine's clock, every second, from the alert's absolute times
function tickAlerts() {
  const now = Date.now();
  for (const li of $("alerts").children) if (li._alert) li.textContent = alertText(li._alert, now);
  $("clock").textContent = new Date(now).toISOString().slice(11, 19) + "Z";
}

function focusTracks(keys) {
  const pts = state.tracks.filter((tr) => keys.includes(trackKey(tr))).map((tr) => [tr.lon, tr.lat]);
  if (!pts.length) return;
  const lons = pts.map((p) => p[0]);
  const lats = pts.map((p) => p[1]);
  cop.fit(Math.min(...lons) - 0.3, Math.min(...lats) - 0.3, Math.max(...lons) + 0.3, Math.max(...lats) + 0.3);
}

function renderLinks() {
  const ul = $("links");
  ul.textContent = "";
  for (const l of state.picture.links) {
    const li = document.createElement("li");
    li.className = `link-${l.state}`;
    li.dataset.party = l.party;
    li.textContent = `${l.party}: ${t(`link.${l.state}`)}${l.failures ? ` (${l.failures})` : ""}`;
    ul.append(li);
  }
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 100);
}

async function refresh() {
  try {
    state.picture = await api("/v1/picture");
  } catch (e) {
    if (e.status === 401) return showLogin(e.message);
    throw e;
  }
  buildRecords();
  renderConflicts();
  renderLinks();
  if (state.selected) await loadThread();
  document.body.dataset.ready = "1";
}

// --- conflicts and the hotline ------------------------------------------------------------------
function bbox(records) {
  let lo0 = Infinity, la0 = Infinity, lo1 = -Infinity, la1 = -Infinity;
  for (const rec of records) {
    for (const v of rec.volumes) {
      for (const ring of volumeRings(v)) {
        for (const [lon, lat] of ring) {
          lo0 = Math.min(lo0, lon); lo1 = Math.max(lo1, lon);
          la0 = Math.min(la0, lat); la1 = Math.max(la1, lat);
        }
      }
    }
  }
  return Number.isFinite(lo0) ? [lo0, la0, lo1, la1] : null;
}

async function selectConflict(id) {
  state.selected = id;
  const c = state.picture.conflicts.find((x) => x.id === id);
  const box = c && bbox([c.a, c.b]);
  if (box) cop.fit(...box, 80);
  if (c && !$("all-times").checked) { // the map moves to the conflict's time
    play(false);
    const m = Math.floor((Date.parse(c.time_start) - state.day0) / 60000);
    $("time").value = String(Math.max(0, Math.min(1440, m)));
    applyTime();
  }
  renderConflicts();
  buildRecords();
  await loadThread();
  $("thread-panel").hidden = false;
}

async function loadThread() {
  if (!state.selected) return;
  const th = await api(`/v1/conflicts/${state.selected}/thread?lang=${state.lang}`);
  state.thread = th;
  $("thread-meta").textContent = th.parties.join(" ↔ ");
  const ol = $("messages");
  ol.textContent = "";
  for (const m of th.messages) {
    const li = document.createElement("li");
    li.dataset.id = m.id;
    const text = document.createElement("div");
    text.className = "text" + (m.untranslated ? " untranslated" : "");
    text.textContent = m.text + (m.untranslated ? ` [${t("untranslated")}: ${m.lang || "?"}]` : "");
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${m.from} · ${hhmm(Date.parse(m.at))}${m.category_label ? " · " + m.category_label : ""}`;
    li.append(text, meta);
    if (m.requires_ack) {
      const acked = Object.keys(m.acknowledged_by);
      const ack = document.createElement("div");
      if (m.escalation.level > 0) {
        const esc = document.createElement("span");
        esc.className = "esc";
        esc.textContent = `${t("escalated")} ${m.escalation.label} `;
        ack.append(esc);
      }
      if (acked.length) ack.append(`${t("acknowledged")}: ${acked.join(", ")} `);
      if (m.from !== state.party && !acked.includes(state.party)) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = t("acknowledge");
        b.addEventListener("click", async () => {
          await api(`/v1/threads/${th.id}/messages/${m.id}/ack?lang=${state.lang}`, { method: "POST" });
          loadThread();
        });
        ack.append(b);
      }
      li.append(ack);
    }
    ol.append(li);
  }
}

async function loadPhrasebook() {
  const pb = await api(`/v1/phrasebook?lang=${state.lang}`);
  state.phrasebook = pb.phrases;
  const sel = $("code");
  const current = sel.value;
  sel.textContent = "";
  const free = document.createElement("option");
  free.value = "";
  free.textContent = t("freeOption");
  sel.append(free);
  for (const p of pb.phrases) {
    const o = document.createElement("option");
    o.value = p.code;
    o.textContent = `${t(`cat.${p.category}`)}: ${p.text}`;
    sel.append(o);
  }
  sel.value = current;
  renderParams();
}

function renderParams() {
  const box = $("params");
  box.textContent = "";
  const p = (state.phrasebook || []).find((x) => x.code === $("code").value);
  if (!p) return;
  for (const name of p.params) {
    const label = document.createElement("label");
    label.textContent = `${t(`param.${name}`)} `;
    const input = document.createElement("input");
    input.name = name;
    input.dataset.param = name;
    input.type = ["altitude", "heading", "distance"].includes(name) ? "number" : "text";
    if (name === "position") input.placeholder = "lon, lat";
    if (name === "time") input.placeholder = "YYYY-MM-DD HH:MM (UTC)";
    label.append(input);
    box.append(label, " ");
  }
}

function resetSendForm() {
  $("send-form").reset(); // the code back to free text, the box empty, no acknowledgement asked
  renderParams();
}

async function sendMessage(ev) {
  ev.preventDefault();
  if (!state.thread) return;
  const code = $("code").value;
  const body = {};
  const status = $("send-status");
  if (code) {
    body.code = code;
    body.params = {};
    for (const input of $("params").querySelectorAll("input")) {
      const name = input.dataset.param;
      if (name === "time" && !/^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}\s*$/.test(input.value)) {
        status.className = "error";
        status.textContent = t("errTimes");
        return;
      }
      if (name === "time") body.params[name] = toIso(input.value);
      else if (name === "position") body.params[name] = input.value.split(",").map(Number);
      else if (["altitude", "heading", "distance"].includes(name)) body.params[name] = Number(input.value);
      else body.params[name] = input.value;
    }
  } else {
    body.text = $("free-text").value;
    body.lang = state.lang;
  }
  if ($("needs-ack").checked) body.ack_within_s = 300;
  try {
    await api(`/v1/threads/${state.thread.id}/messages?lang=${state.lang}`, { method: "POST", json: body });
    resetSendForm();
    status.className = "";
    status.textContent = t("sent");
    await loadThread();
  } catch (e) {
    status.className = "error";
    status.textContent = problemText(e);
  }
}

// --- drafting a new intent ---------------------------------------------------------------------
class DraftError extends Error {}

// "2026-11-29 14:05" (24-hour, UTC) -> ISO
function toIso(text) {
  const m = /^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})\s*$/.exec(text || "");
  const ms = m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]) : NaN;
  if (!Number.isFinite(ms)) throw new DraftError(t("errTimes"));
  return new Date(ms).toISOString();
}

function describe(g) {
  if (g === null) return "null";
  if (Array.isArray(g)) return "an array";
  if (typeof g !== "object") return typeof g;
  return g.type ? `"${g.type}"` : "an object without \"type\"";
}

function draftGeometry() {
  const text = $("geojson").value.trim();
  if (text) {
    let g;
    try {
      g = JSON.parse(text);
    } catch (e) {
      const at = /position (\d+)/.exec(String(e.message));
      throw new DraftError(t("errJson", { detail: at ? ` (${t("atChar")} ${Number(at[1]) + 1})` : "" }));
    }
    if (g && g.type === "FeatureCollection") g = Array.isArray(g.features) ? g.features[0] : undefined;
    if (g && g.type === "Feature") g = g.geometry;
    if (!g || typeof g !== "object" || g.type !== "Polygon" || !Array.isArray(g.coordinates)) {
      throw new DraftError(t("errGeometry", { detail: describe(g ?? null) }));
    }
    return g;
  }
  if (cop.drawing && cop.drawing.points.length >= 3) {
    const ring = cop.drawing.points.map(([lon, lat]) => [Number(lon.toFixed(5)), Number(lat.toFixed(5))]);
    ring.push(ring[0]);
    return { type: "Polygon", coordinates: [ring] };
  }
  throw new DraftError(t("errCorners"));
}

function draftVolumes() {
  const footprint = draftGeometry();
  const num = (id, field) => {
    const v = $(id).value;
    if (v === "" || !Number.isFinite(Number(v))) throw new DraftError(t("errNumber", { field }));
    return Number(v);
  };
  return [{
    footprint,
    alt_lower_m: num("alt-lo", "alt_lower_m"),
    alt_upper_m: num("alt-hi", "alt_upper_m"),
    time_start: toIso($("t-start").value),
    time_end: toIso($("t-end").value),
  }];
}

async function checkDraft() {
  const status = $("draft-status");
  status.textContent = "";
  status.className = "";
  let volumes;
  try {
    volumes = draftVolumes();
  } catch (e) {
    if (!(e instanceof DraftError)) throw e;
    status.className = "error";
    status.textContent = e.message;
    return;
  }
  try {
    const res = await api("/v1/intents/preview", { method: "POST", json: { volumes } });
    state.draft = { volumes };
    state.draftConflicts = res.conflicts;
    const ul = $("draft-conflicts");
    ul.textContent = "";
    for (const c of res.conflicts) {
      const other = c.a.owner === state.party ? c.b : c.a;
      const li = document.createElement("li");
      li.textContent = `${other.id ?? "—"} (${other.owner}) · ${hhmm(Date.parse(c.time_start))}–${hhmm(Date.parse(c.time_end))}`;
      ul.append(li);
    }
    const n = res.conflicts.length;
    status.textContent = n ? t("countDraftConflicts", { n }) : t("draftClear");
    $("submit").disabled = false;
    buildDraft();
  } catch (e) {
    status.className = "error";
    status.textContent = problemText(e);
  }
}

async function submitDraft() {
  if (!state.draft) return;
  try {
    await api("/v1/intents", { method: "POST", json: { volumes: state.draft.volumes } });
    clearDraft();
    $("draft-status").textContent = t("submitted");
    refresh();
  } catch (e) {
    $("draft-status").className = "error";
    $("draft-status").textContent = problemText(e);
  }
}

function clearDraft() {
  state.draft = null;
  state.draftConflicts = [];
  cop.drawing = null;
  $("geojson").value = "";
  $("draft-conflicts").textContent = "";
  $("draft-status").textContent = "";
  $("submit").disabled = true;
  buildDraft();
}

// --- time: the slider, playback of the day --------------------------------------------------------
function selectedTime() {
  if ($("all-times").checked) return null;
  return state.day0 + Number($("time").value) * 60000;
}

function setTimeLabel() {
  const when = selectedTime();
  $("time-label").textContent = when === null ? "—" : utcStamp(when);
  $("map").dataset.time = when === null ? "" : String(when);
}

function applyTime() {
  setTimeLabel();
  cop.setTime(selectedTime());
}

function nowSlider() {
  const m = Math.floor((Date.now() - state.day0) / 60000);
  $("time").value = String(Math.max(0, Math.min(1440, m)));
}

function play(on) {
  clearInterval(state.playing);
  state.playing = null;
  if (on) {
    $("all-times").checked = false;
    state.playing = setInterval(() => {
      const stepMin = (Number($("play-speed").value) * 0.25) / 60;
      const next = Number($("time").value) + stepMin;
      $("time").value = String(next >= 1440 ? 0 : next);
      applyTime();
    }, 250);
  }
  $("play").setAttribute("aria-pressed", String(on));
  $("play").textContent = on ? t("pause") : t("play");
}

// --- start -------------------------------------------------------------------------------------
function showTooltip(hits, point) {
  const tip = $("tooltip");
  const f = hits[0];
  if (!f || !point) { tip.hidden = true; return; }
  const p = f.properties;
  let lines;
  if (f.layer.id === "clusters") {
    lines = [t("countTracks", { n: p.point_count })];
  } else if (f.layer.id === "tracks") {
    const tr = state.tracks.find((x) => trackKey(x) === p.key);
    if (!tr) { tip.hidden = true; return; }
    lines = [
      `${tr.id} · ${tr.party} · ${t(`cls.${tr.class}`)}`,
      degMin(tr.lon, tr.lat),
      [altitudeText(tr.alt_m, tr.class, t), speedText(tr.gs_mps, t),
       tr.track_deg !== undefined ? `${String(Math.round(tr.track_deg) % 360).padStart(3, "0")}°` : ""].filter(Boolean).join(" · "),
      tr.time ? `${new Date(tr.time).toISOString().slice(11, 19)}Z` : null,
    ];
  } else {
    lines = [
      `${p.id} · ${p.owner}${p.level ? " · " + t(p.level) : ""}`,
      p.name || null,
      [p.category && t(`cat.${p.category}`), p.state && t(`state.${p.state}`)].filter(Boolean).join(" · ") || null,
      `${t("altitude")} ${p.alt}`,
      p.window,
    ];
  }
  tip.textContent = lines.filter(Boolean).join("\n");
  tip.style.left = `${point.x + 14}px`;
  tip.style.top = `${point.y + 14}px`;
  tip.hidden = false;
}

// --- the audit log, witnessed (witness.js) ------------------------------------------------------
function witnessRound() {
  // one round at a time: a round started while another runs waits for it
  state.witnessing = (state.witnessing || Promise.resolve()).then(async () => {
    let r;
    try {
      r = await witnessOnce(api, state.party);
    } catch (e) {
      r = { state: "off", why: e.message };
    }
    state.witness = r;
    renderWitness();
    return r;
  });
  return state.witnessing;
}

function renderWitness() {
  const el = $("witness");
  const r = state.witness;
  if (!r || r.state === "none") { el.hidden = true; return; }
  const why = r.why === "keyNeedsAdmin" ? t("keyNeedsAdmin") : r.why;
  const text = {
    ok: () => t("witnessOk", { n: r.seq }),
    unsigned: () => t("witnessUnsigned", { n: r.seq, why }),
    alarm: () => t("witnessAlarm", { why }),
    off: () => t("witnessOff", { why }),
  }[r.state];
  el.textContent = text();
  el.classList.toggle("alarm", r.state === "alarm");
  el.setAttribute("role", r.state === "alarm" ? "alert" : "status");
  el.hidden = false;
}

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = state.party;
  const d = new Date();
  state.day0 = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  nowSlider();
  const pad = (n) => String(n).padStart(2, "0");
  const local = (ms) => { const x = new Date(ms); return `${x.getUTCFullYear()}-${pad(x.getUTCMonth() + 1)}-${pad(x.getUTCDate())} ${pad(x.getUTCHours())}:${pad(x.getUTCMinutes())}`; };
  $("t-start").value = local(Date.now() + 3600e3);
  $("t-end").value = local(Date.now() + 3 * 3600e3);
  cop = new CopMap($("map"), {
    lang: state.lang, t,
    onHover: showTooltip,
    onClick: (hits) => {
      const f = hits.find((h) => h.properties && h.properties.id);
      if (!f) return;
      const cid = inConflict().get(f.properties.id);
      if (cid) selectConflict(cid);
    },
  });
  // for tests and bench/ui.py: the map, the state, and what the track stream calls
  window.cop = { map: cop.map, view: cop, state, applyTracks, onTracks: applyTracks, witness: witnessRound };
  await cop.ready;
  renderLayerSwitches();
  cop.setGroup("labels", true);
  renderLegend();
  applyTime();
  await loadPhrasebook();
  await refresh();
  state.lastEventId = state.picture.last_event_id || 0;
  const box = bbox(state.picture.records.map((r) => r.record));
  if (box) cop.fit(...box, 60);
  setInterval(tickAlerts, 1000);
  tickAlerts();
  witnessRound();
  setInterval(witnessRound, WITNESS_S * 1000);
  streamEvents("/v1/events", (ev) => {
    if (ev.id) state.lastEventId = Number(ev.id);
    scheduleRefresh();
  }, () => state.lastEventId || null);
  streamEvents("/v1/tracks/stream", (ev) => window.cop.onTracks(JSON.parse(ev.data).tracks));
}

function wire() {
  applyWords();
  $("lang").addEventListener("change", () => {
    sessionStorage.setItem(LANG_KEY, $("lang").value);
    setLanguage($("lang").value);
  });
  $("use-token").addEventListener("click", () => login($("token").value));
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("time").addEventListener("input", () => { $("all-times").checked = false; applyTime(); });
  $("all-times").addEventListener("change", () => { if ($("all-times").checked) play(false); applyTime(); });
  $("now").addEventListener("click", () => { play(false); $("all-times").checked = false; nowSlider(); applyTime(); });
  $("play").addEventListener("click", () => play(!state.playing));
  $("code").addEventListener("change", renderParams);
  $("send-form").addEventListener("submit", sendMessage);
  $("rb").addEventListener("click", () => {
    const on = $("rb").getAttribute("aria-pressed") !== "true";
    $("rb").setAttribute("aria-pressed", String(on));
    if (on) { cop.drawing = null; buildDraft(); }
    cop.setTool(on);
  });
  $("draw").addEventListener("click", () => {
    $("rb").setAttribute("aria-pressed", "false");
    cop.setTool(false);
    state.draft = null;
    cop.drawing = { points: [], onchange: () => { $("submit").disabled = true; buildDraft(); } };
    buildDraft();
  });
  $("clear-draw").addEventListener("click", () => clearDraft());
  $("check").addEventListener("click", checkDraft);
  $("submit").addEventListener("click", submitDraft);
  if (state.token) login(state.token);
  else showLogin();
}

wire();
