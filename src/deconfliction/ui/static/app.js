// The common operational picture: what one party may see, live, on a map.
import { MapView, circlePoints, unwrap } from "./map.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "deconfliction.token";
const LANG_KEY = "deconfliction.lang";

const WORDS = {
  en: {
    title: "Common operational picture", language: "Language", logout: "Log out",
    login: "Log in as a party", loginHelp: "Paste a bearer token for your party.",
    useToken: "Use this token", demoLogin: "Demo: log in as", time: "Time", now: "Now",
    allTimes: "all times", conflicts: "Conflicts", hotline: "Hotline", message: "Message",
    freeText: "or free text", needsAck: "ask for acknowledgement within 5 min", send: "Send",
    newIntent: "New intent", drawHelp: "Draw on the map (click the corners, then Check) or paste GeoJSON.",
    draw: "Draw", clear: "Clear", from: "from", to: "to", check: "Check", submit: "Submit",
    links: "Links", tracks: "Tracks", noConflicts: "No conflicts.", acknowledge: "Acknowledge",
    acknowledged: "acknowledged", escalated: "escalated to", untranslated: "untranslated",
    own: "own", full: "released in full", extent: "released as extent", overlap: "overlap",
    apart: "apart", draftConflicts: "conflicts before submit", draftClear: "No conflict: you can submit.",
    submitted: "Submitted.", freeOption: "— free text —", you: "you", notice: "(notice only: no geometry released)",
    lost: "separation lost", inS: "in", outside: "outside its intent",
  },
  fr: {
    title: "Situation opérationnelle commune", language: "Langue", logout: "Se déconnecter",
    login: "Se connecter comme partie", loginHelp: "Collez un jeton d'accès de votre partie.",
    useToken: "Utiliser ce jeton", demoLogin: "Démo : se connecter comme", time: "Heure", now: "Maintenant",
    allTimes: "toutes les heures", conflicts: "Conflits", hotline: "Ligne directe", message: "Message",
    freeText: "ou texte libre", needsAck: "demander un accusé de réception sous 5 min", send: "Envoyer",
    newIntent: "Nouvelle intention", drawHelp: "Dessinez sur la carte (cliquez les sommets, puis Vérifier) ou collez du GeoJSON.",
    draw: "Dessiner", clear: "Effacer", from: "de", to: "à", check: "Vérifier", submit: "Soumettre",
    links: "Liaisons", tracks: "Pistes", noConflicts: "Aucun conflit.", acknowledge: "Accuser réception",
    acknowledged: "reçu", escalated: "escaladé à", untranslated: "non traduit",
    own: "propre", full: "communiqué en entier", extent: "communiqué en emprise", overlap: "chevauchement",
    apart: "d'écart", draftConflicts: "conflits avant soumission", draftClear: "Aucun conflit : vous pouvez soumettre.",
    submitted: "Soumis.", freeOption: "— texte libre —", you: "vous", notice: "(avis seulement : aucune géométrie communiquée)",
    lost: "séparation perdue", inS: "dans", outside: "hors de son intention",
  },
  ru: {
    title: "Общая оперативная обстановка", language: "Язык", logout: "Выйти",
    login: "Войти как сторона", loginHelp: "Вставьте токен доступа вашей стороны.",
    useToken: "Использовать токен", demoLogin: "Демо: войти как", time: "Время", now: "Сейчас",
    allTimes: "всё время", conflicts: "Конфликты", hotline: "Прямая линия", message: "Сообщение",
    freeText: "или свободный текст", needsAck: "запросить подтверждение в течение 5 мин", send: "Отправить",
    newIntent: "Новое намерение", drawHelp: "Нарисуйте на карте (щёлкните вершины, затем Проверить) или вставьте GeoJSON.",
    draw: "Рисовать", clear: "Очистить", from: "с", to: "по", check: "Проверить", submit: "Отправить план",
    links: "Связь", tracks: "Треки", noConflicts: "Конфликтов нет.", acknowledge: "Подтвердить",
    acknowledged: "подтверждено", escalated: "передано на уровень", untranslated: "без перевода",
    own: "своё", full: "передано полностью", extent: "передан контур", overlap: "пересечение",
    apart: "интервал", draftConflicts: "конфликты до отправки", draftClear: "Конфликтов нет: можно отправлять.",
    submitted: "Отправлено.", freeOption: "— свободный текст —", you: "вы", notice: "(только уведомление: геометрия не передана)",
    lost: "интервал нарушен", inS: "через", outside: "вне своего намерения",
  },
};

const COLORS = { FR: "#2b6cb0", RU: "#c53030", UK: "#2f855a" };
function colorOf(party) {
  if (COLORS[party]) return COLORS[party];
  let h = 0;
  for (const ch of party) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 60% 40%)`;
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  lang: localStorage.getItem(LANG_KEY) || (navigator.language || "en").slice(0, 2),
  party: null,
  picture: { records: [], conflicts: [], links: [] },
  tracks: [],
  phrasebook: [],
  selected: null, // conflict id
  thread: null,
  draft: null, // {volumes}
  draftConflicts: [],
  lastEventId: 0,
  day0: null,
};
if (!WORDS[state.lang]) state.lang = "en";
const t = (k) => WORDS[state.lang][k] || WORDS.en[k] || k;

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

// --- i18n ------------------------------------------------------------------------------------
function applyWords() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").value = state.lang;
}

// --- login -----------------------------------------------------------------------------------
async function showLogin(message) {
  $("login").hidden = false;
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login-error").textContent = message || "";
  try {
    const dev = await fetch("/v1/dev/parties").then((r) => (r.ok ? r.json() : null));
    if (dev && dev.parties.length) {
      $("dev-login").hidden = false;
      const box = $("dev-parties");
      box.textContent = "";
      for (const p of dev.parties) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = `${p.id} (${p.name})`;
        b.dataset.party = p.id;
        b.addEventListener("click", async () => {
          const tok = await fetch(`/v1/dev/token?party=${encodeURIComponent(p.id)}`).then((r) => r.json());
          login(tok.token);
        });
        box.append(b, " ");
      }
    }
  } catch { /* not in demo mode */ }
}

async function login(token) {
  state.token = token.trim();
  try {
    const me = await api("/v1/me");
    sessionStorage.setItem(TOKEN_KEY, state.token);
    state.party = me.party;
    start();
  } catch (e) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(e.message);
  }
}

// --- the picture -----------------------------------------------------------------------------
let map;
let basemapLoaded = false;

function volumeRings(v) {
  const fp = v.footprint;
  if (fp.type === "Circle") return [circlePoints(fp.center[0], fp.center[1], fp.radius_m)];
  return [unwrap(fp.coordinates[0])];
}

function activeAt(v, when) {
  if (when === null) return true;
  return Date.parse(v.time_start) <= when && when <= Date.parse(v.time_end);
}

function selectedTime() {
  if ($("all-times").checked) return null;
  return state.day0 + Number($("time").value) * 60000;
}

function inConflict() {
  const ids = new Map();
  for (const c of state.picture.conflicts) {
    for (const side of [c.a, c.b]) ids.set(side.id, c.id);
  }
  return ids;
}

function fmtAlt(lo, hi) { return `${Math.round(lo)}–${Math.round(hi)} m`; }
function fmtTime(s) { return new Date(s).toISOString().slice(11, 16) + " UTC"; }

function buildLayers() {
  const when = selectedTime();
  const conflicted = inConflict();
  const recs = [];
  for (const item of state.picture.records) {
    const rec = item.record;
    for (const v of rec.volumes) {
      if (!activeAt(v, when)) continue;
      const owner = rec.owner;
      const hot = conflicted.has(rec.id);
      const sel = state.selected && conflicted.get(rec.id) === state.selected;
      recs.push({
        type: "area",
        rings: volumeRings(v),
        fill: item.kind === "area" ? "rgba(120,120,120,0.25)" : colorOf(owner) + "40",
        stroke: hot ? "#d7191c" : colorOf(owner),
        width: sel ? 4 : hot ? 2.5 : 1.5,
        dash: item.level === "extent" ? [6, 4] : item.kind === "area" ? [2, 3] : [],
        info: { id: rec.id, owner, kind: item.kind, level: item.level, name: rec.name,
                state: rec.state, category: rec.category,
                alt: fmtAlt(v.alt_lower_m, v.alt_upper_m),
                window: `${fmtTime(v.time_start)} – ${fmtTime(v.time_end)}` },
      });
    }
  }
  const draft = [];
  if (state.draft) {
    for (const v of state.draft.volumes) {
      draft.push({ type: "area", rings: volumeRings(v), fill: "rgba(123,50,148,0.2)",
                   stroke: state.draftConflicts.length ? "#d7191c" : "#7b3294", width: 2.5, dash: [4, 2],
                   info: { id: "draft", owner: state.party, kind: "draft" } });
    }
  }
  const tracks = state.tracks.map((tr) => {
    const vec = tr.gs_mps !== undefined ? ahead(tr, 120) : null;
    return { type: "track", lon: tr.lon, lat: tr.lat, heading: tr.track_deg || 0, cls: tr.class,
             color: colorOf(tr.party), vector: vec, label: tr.id,
             info: { id: tr.id, owner: tr.party, kind: tr.class, alt: `${Math.round(tr.alt_m || 0)} m`,
                     level: tr.level } };
  });
  map.setLayers([{ features: recs }, { features: draft }, { features: tracks }]);
  const c = $("map");
  c.dataset.features = String(recs.length);
  c.dataset.tracks = String(tracks.length);
  renderLegend();
}

function ahead(tr, seconds) {
  const d = (tr.gs_mps || 0) * seconds;
  const b = ((tr.track_deg || 0) * Math.PI) / 180;
  const dlat = (d * Math.cos(b)) / 111320;
  const dlon = (d * Math.sin(b)) / (111320 * Math.max(0.01, Math.cos((tr.lat * Math.PI) / 180)));
  return [tr.lon + dlon, tr.lat + dlat];
}

function renderLegend() {
  const parties = new Set(state.picture.records.map((r) => r.record.owner));
  for (const tr of state.tracks) parties.add(tr.party);
  const box = $("legend");
  box.textContent = "";
  for (const p of [...parties].sort()) {
    const row = document.createElement("div");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colorOf(p);
    row.append(sw, p === state.party ? `${p} (${t("you")})` : p);
    box.append(row);
  }
}

function renderConflicts() {
  const ul = $("conflicts");
  ul.textContent = "";
  if (!state.picture.conflicts.length && !(state.picture.tactical || []).length) {
    const li = document.createElement("li");
    li.textContent = t("noConflicts");
    ul.append(li);
  }
  renderTactical(ul);
  for (const c of state.picture.conflicts) {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    if (c.id === state.selected) li.className = "selected";
    const b = document.createElement("button");
    const other = c.a.owner === state.party ? c.b : c.a;
    const mine = c.a.owner === state.party ? c.a : c.b;
    const overlap = c.gaps.horizontal_m === 0 && c.gaps.vertical_m === 0 && c.gaps.time_s === 0;
    const sev = document.createElement("span");
    sev.className = overlap ? "sev-overlap" : "sev-near";
    sev.textContent = overlap ? t("overlap") : `${(c.gaps.horizontal_m / 1852).toFixed(1)} NM ${t("apart")}`;
    b.append(`${mine.id} × ${other.id} (${other.owner}) · ${fmtTime(c.time_start)}–${fmtTime(c.time_end)} · `, sev);
    if (!other.volumes.length) b.append(" ", t("notice"));
    b.addEventListener("click", () => selectConflict(c.id));
    li.append(b);
    ul.append(li);
  }
}

function renderTactical(ul) {
  for (const a of state.picture.tactical || []) {
    const li = document.createElement("li");
    li.dataset.kind = a.kind;
    li.className = "tactical";
    let text;
    if (a.kind === "tactical") {
      text = `⚠ ${a.tracks.join(" × ")} · CPA ${Math.round(a.t_cpa_s)} s · ${(a.d_cpa_m / 1852).toFixed(1)} NM / ${Math.round(a.dz_cpa_m)} m`;
      if (a.lost) text += ` · ${t("lost")}`;
    } else if (a.kind === "area") {
      text = `⚠ ${a.track} → ${a.area} ${t("inS")} ${Math.round(a.t_enter_s)} s`;
    } else {
      text = `⚠ ${a.track} ${t("outside")} ${a.intent}`;
    }
    li.textContent = text;
    ul.append(li);
  }
}

function renderLinks() {
  const ul = $("links");
  ul.textContent = "";
  for (const l of state.picture.links) {
    const li = document.createElement("li");
    li.className = `link-${l.state}`;
    li.dataset.party = l.party;
    li.textContent = `${l.party}: ${l.state}${l.failures ? ` (${l.failures})` : ""}`;
    ul.append(li);
  }
}

function renderTracks() {
  const ul = $("tracks");
  ul.textContent = "";
  for (const tr of state.tracks) {
    const li = document.createElement("li");
    li.dataset.id = tr.id;
    li.dataset.lon = String(tr.lon);
    li.dataset.lat = String(tr.lat);
    li.textContent = `${tr.party} ${tr.id} · ${tr.class} · ${tr.lat.toFixed(3)}, ${tr.lon.toFixed(3)} · ${Math.round(tr.alt_m || 0)} m`;
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
  buildLayers();
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
  if (box) map.fit(...box, 60);
  updateMapData();
  renderConflicts();
  buildLayers();
  await loadThread();
  $("thread-panel").hidden = false;
}

function updateMapData() {
  const c = $("map");
  const [lon, lat] = map.toLonLat(map.width / 2, map.height / 2);
  c.dataset.zoom = map.zoom.toFixed(2);
  c.dataset.centerLon = lon.toFixed(4);
  c.dataset.centerLat = lat.toFixed(4);
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
    meta.textContent = `${m.from} · ${fmtTime(m.at)}${m.category_label ? " · " + m.category_label : ""}`;
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
    o.textContent = `${p.category}: ${p.text}`;
    sel.append(o);
  }
  sel.value = current;
  renderParams();
}

function renderParams() {
  const box = $("params");
  box.textContent = "";
  const p = state.phrasebook.find((x) => x.code === $("code").value);
  if (!p) return;
  for (const name of p.params) {
    const label = document.createElement("label");
    label.textContent = `${name} `;
    const input = document.createElement("input");
    input.name = name;
    input.dataset.param = name;
    input.type = name === "time" ? "datetime-local" : ["altitude", "heading", "distance"].includes(name) ? "number" : "text";
    if (name === "position") input.placeholder = "lon, lat";
    label.append(input);
    box.append(label, " ");
  }
}

async function sendMessage(ev) {
  ev.preventDefault();
  if (!state.thread) return;
  const code = $("code").value;
  const body = {};
  if (code) {
    body.code = code;
    body.params = {};
    for (const input of $("params").querySelectorAll("input")) {
      const name = input.dataset.param;
      if (name === "time") body.params[name] = new Date(input.value + "Z").toISOString();
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
    $("free-text").value = "";
    await loadThread();
  } catch (e) {
    alert(e.body && e.body.errors ? e.body.errors.map((x) => `${x.pointer}: ${x.reason}`).join("\n") : e.message);
  }
}

// --- drafting a new intent ---------------------------------------------------------------------
function toIso(localValue) {
  return new Date(localValue + ":00Z").toISOString();
}

function draftVolumes() {
  let geometry = null;
  const text = $("geojson").value.trim();
  if (text) {
    let g = JSON.parse(text);
    if (g.type === "FeatureCollection") g = g.features[0];
    if (g.type === "Feature") g = g.geometry;
    geometry = g;
  } else if (map.drawing && map.drawing.points.length >= 3) {
    const ring = map.drawing.points.map(([lon, lat]) => [Number(lon.toFixed(5)), Number(lat.toFixed(5))]);
    ring.push(ring[0]);
    geometry = { type: "Polygon", coordinates: [ring] };
  }
  if (!geometry) throw new Error("draw at least 3 corners, or paste a GeoJSON Polygon");
  return [{
    footprint: geometry,
    alt_lower_m: Number($("alt-lo").value),
    alt_upper_m: Number($("alt-hi").value),
    time_start: toIso($("t-start").value),
    time_end: toIso($("t-end").value),
  }];
}

async function checkDraft() {
  $("draft-status").textContent = "";
  try {
    const volumes = draftVolumes();
    const res = await api("/v1/intents/preview", { method: "POST", json: { volumes } });
    state.draft = { volumes };
    state.draftConflicts = res.conflicts;
    const ul = $("draft-conflicts");
    ul.textContent = "";
    for (const c of res.conflicts) {
      const other = c.a.owner === state.party ? c.b : c.a;
      const li = document.createElement("li");
      li.textContent = `${other.id} (${other.owner}) · ${fmtTime(c.time_start)}–${fmtTime(c.time_end)}`;
      ul.append(li);
    }
    $("draft-status").textContent = res.conflicts.length
      ? `${res.conflicts.length} ${t("draftConflicts")}`
      : t("draftClear");
    $("submit").disabled = false;
    buildLayers();
  } catch (e) {
    $("draft-status").textContent = e.body && e.body.errors
      ? e.body.errors.map((x) => `${x.pointer}: ${x.reason}`).join("; ")
      : e.message;
  }
}

async function submitDraft() {
  if (!state.draft) return;
  try {
    await api("/v1/intents", { method: "POST", json: { volumes: state.draft.volumes } });
    $("draft-status").textContent = t("submitted");
    clearDraft(false);
    refresh();
  } catch (e) {
    $("draft-status").textContent = e.message;
  }
}

function clearDraft(clearStatus = true) {
  state.draft = null;
  state.draftConflicts = [];
  map.drawing = null;
  $("geojson").value = "";
  $("draft-conflicts").textContent = "";
  if (clearStatus) $("draft-status").textContent = "";
  $("submit").disabled = true;
  buildLayers();
}

// --- start -------------------------------------------------------------------------------------
function setTimeLabel() {
  const when = selectedTime();
  $("time-label").textContent = when === null ? "—" : new Date(when).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function nowSlider() {
  const m = Math.floor((Date.now() - state.day0) / 60000);
  $("time").value = String(Math.max(0, Math.min(1440, m)));
  setTimeLabel();
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
  const local = (ms) => { const x = new Date(ms); return `${x.getUTCFullYear()}-${pad(x.getUTCMonth() + 1)}-${pad(x.getUTCDate())}T${pad(x.getUTCHours())}:${pad(x.getUTCMinutes())}`; };
  $("t-start").value = local(Date.now() + 3600e3);
  $("t-end").value = local(Date.now() + 3 * 3600e3);
  map = new MapView($("map"));
  window.deconflictionMap = map;
  map.onhover = (hits, e) => {
    const tip = $("tooltip");
    const f = hits[0];
    if (!f) { tip.hidden = true; return; }
    const i = f.info;
    tip.textContent = [
      `${i.id} · ${i.owner}${i.level ? " · " + t(i.level) : ""}`,
      i.name ? i.name : null,
      [i.category, i.state].filter(Boolean).join(" · ") || null,
      i.alt ? `alt ${i.alt}` : null,
      i.window || null,
    ].filter(Boolean).join("\n");
    tip.style.whiteSpace = "pre-line";
    tip.style.left = `${e.offsetX + 14}px`;
    tip.style.top = `${e.offsetY + 14}px`;
    tip.hidden = false;
  };
  map.onclick = (hits) => {
    const f = hits.find((h) => h.info && h.info.id);
    if (!f) return;
    const cid = inConflict().get(f.info.id);
    if (cid) selectConflict(cid);
  };
  if (!basemapLoaded) {
    map.basemap = await fetch("basemap.json").then((r) => r.json());
    basemapLoaded = true;
  }
  map.fit(20, 30, 40, 40);
  updateMapData();
  await loadPhrasebook();
  await refresh();
  state.lastEventId = state.picture.last_event_id || 0;
  const box = bbox(state.picture.records.map((r) => r.record));
  if (box) { map.fit(...box, 60); updateMapData(); }
  streamEvents("/v1/events", (ev) => {
    if (ev.id) state.lastEventId = Number(ev.id);
    scheduleRefresh();
  }, () => state.lastEventId || null);
  streamEvents("/v1/tracks/stream", (ev) => {
    state.tracks = JSON.parse(ev.data).tracks;
    renderTracks();
    buildLayers();
  });
}

function wire() {
  applyWords();
  $("lang").addEventListener("change", async () => {
    state.lang = $("lang").value;
    localStorage.setItem(LANG_KEY, state.lang);
    applyWords();
    if (state.party) {
      await loadPhrasebook();
      renderConflicts();
      await loadThread();
    }
  });
  $("use-token").addEventListener("click", () => login($("token").value));
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("time").addEventListener("input", () => { setTimeLabel(); buildLayers(); });
  $("all-times").addEventListener("change", () => { setTimeLabel(); buildLayers(); });
  $("now").addEventListener("click", () => { $("all-times").checked = false; nowSlider(); buildLayers(); });
  $("code").addEventListener("change", renderParams);
  $("send-form").addEventListener("submit", sendMessage);
  $("draw").addEventListener("click", () => {
    map.drawing = { points: [], onchange: () => { $("submit").disabled = true; } };
    $("map").focus();
  });
  $("clear-draw").addEventListener("click", () => clearDraft());
  $("check").addEventListener("click", checkDraft);
  $("submit").addEventListener("click", submitDraft);
  if (state.token) login(state.token);
  else showLogin();
}

wire();
