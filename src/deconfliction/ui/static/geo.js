// Pure functions of the picture: positions, distances, symbols, countdowns. No DOM, no map.
import { forward as mgrsForward } from "./vendor/mgrs/mgrs.esm.js";

export const NM_M = 1852;
const R_M = 6371008.8; // mean Earth radius (IUGG), for great-circle range and bearing
const KT_MPS = NM_M / 3600;

// --- positions --------------------------------------------------------------------------------
// 35°12.345′N 035°48.123′E (degrees and decimal minutes, as charts and radios give them)
export function degMin(lon, lat, digits = 3) {
  const one = (v, pos, neg, width) => {
    const hemi = v >= 0 ? pos : neg;
    let a = Math.abs(v);
    let d = Math.floor(a);
    let m = Number(((a - d) * 60).toFixed(digits));
    if (m >= 60) { d += 1; m = 0; }
    return `${String(d).padStart(width, "0")}°${m.toFixed(digits).padStart(digits + 3, "0")}′${hemi}`;
  };
  return `${one(lat, "N", "S", 2)} ${one(wrapLon(lon), "E", "W", 3)}`;
}

export function wrapLon(lon) {
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

// MGRS to 1 m ("37S BV 12345 67890"); null beyond the UTM band (above 84°N, below 80°S)
export function mgrs(lon, lat) {
  if (!(lat < 84 && lat >= -80)) return null;
  const s = mgrsForward([wrapLon(lon), lat], 5);
  const m = /^(\d{1,2}[C-X])([A-Z]{2})(\d{5})(\d{5})$/.exec(s);
  return m ? `${m[1]} ${m[2]} ${m[3]} ${m[4]}` : s;
}

// --- range and bearing (great circle on the mean sphere: within 0.5 % of the ellipsoid) -----------
export function rangeBearing(a, b) {
  const rad = Math.PI / 180;
  const [l1, p1, l2, p2] = [a[0] * rad, a[1] * rad, b[0] * rad, b[1] * rad];
  const dl = l2 - l1;
  const h = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  const distance_m = 2 * R_M * Math.asin(Math.min(1, Math.sqrt(h)));
  const y = Math.sin(dl) * Math.cos(p2);
  const x = Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl);
  const bearing_deg = ((Math.atan2(y, x) / rad) + 360) % 360;
  return { distance_m, bearing_deg };
}

// the point ``distance_m`` along ``bearing_deg`` from [lon, lat]
export function destination(lon, lat, bearing_deg, distance_m) {
  const rad = Math.PI / 180;
  const d = distance_m / R_M;
  const b = bearing_deg * rad;
  const p1 = lat * rad;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = lon * rad + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return [l2 / rad, p2 / rad];
}

// points of a geodesic circle (spherical), each step the short way across the antimeridian
export function circlePoints(lon, lat, radiusM, n = 64) {
  const pts = [];
  for (let i = 0; i <= n; i++) pts.push(destination(lon, lat, (360 * i) / n, radiusM));
  return unwrap(pts);
}

export function unwrap(pts) {
  const out = [];
  let prev = null;
  for (const [lon, lat] of pts) {
    let l = lon;
    if (prev !== null) {
      while (l - prev > 180) l -= 360;
      while (l - prev < -180) l += 360;
    }
    out.push([l, lat]);
    prev = l;
  }
  return out;
}

// --- scale ----------------------------------------------------------------------------------------
// metres on the ground per CSS pixel at ``lat`` for a MapLibre zoom (512-pixel tiles)
export function metresPerPixel(zoom, lat) {
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / (512 * 2 ** zoom);
}

// the longest round length (1, 2 or 5 times a power of ten) that fits in ``maxPx``
export function niceLength(unitM, mpp, maxPx) {
  const max = (maxPx * mpp) / unitM;
  const p = 10 ** Math.floor(Math.log10(max));
  const n = [5, 2, 1].map((k) => Number((k * p).toPrecision(1))).find((v) => v <= max) ?? p;
  return { value: n, px: (n * unitM) / mpp };
}

// --- symbols (APP-6 / MIL-STD-2525C letter codes, drawn by milsymbol) --------------------------
// own: friend; a party with an agreement in force: neutral; anything else: unknown
export function affiliation(owner, me, partners) {
  if (owner === me) return "F";
  if ((partners || []).includes(owner)) return "N";
  return "U";
}

const FUNCTION_ID = {
  "fixed-wing": ["A", "MF----"],
  rotary: ["A", "MH----"],
  drone: ["A", "MFQ---"],
  ship: ["S", "C-----"],
};

export function sidc(cls, aff) {
  const [dim, fn] = FUNCTION_ID[cls] || ["A", "------"];
  return `S${aff}${dim}P${fn}-----`;
}

// --- amplifiers -----------------------------------------------------------------------------------
// flight level for aircraft (FL230), metres for the rest; speed in knots
// (``t``: the translator, or the words it gives for "FL", "m" and "kt", fetched once for many)
const unitWords = (t) => (typeof t === "function" ? { FL: t("FL"), m: t("m"), kt: t("kt") } : t);

export function altitudeText(alt_m, cls, t) {
  if (alt_m === undefined || alt_m === null) return "";
  if (cls === "ship") return "";
  const w = unitWords(t);
  const fl = Math.round(alt_m / 0.3048 / 100);
  return fl >= 10 ? `${w.FL}${String(fl).padStart(3, "0")}` : `${Math.round(alt_m)} ${w.m}`;
}

export function speedText(gs_mps, t) {
  if (gs_mps === undefined || gs_mps === null) return "";
  return `${Math.round(gs_mps / KT_MPS)} ${unitWords(t).kt}`;
}

// --- time -----------------------------------------------------------------------------------------
export function hhmm(ms) {
  return new Date(ms).toISOString().slice(11, 16) + "Z";
}

export function utcStamp(ms) {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + "Z";
}

// "4 min 05 s", "45 s"
export function duration(s, t) {
  const a = Math.max(0, Math.round(s));
  if (a < 60) return `${a} ${t("s")}`;
  return `${Math.floor(a / 60)} ${t("min")} ${String(a % 60).padStart(2, "0")} ${t("s")}`;
}

// When a tactical alert's event happens, in client milliseconds: the absolute time the alert
// carries (t_cpa, t_enter: ISO UTC), else its relative seconds counted from when it was last
// computed (updated_at + t_cpa_s / t_enter_s); null when neither is given.
export function alertTimes(a) {
  const at = (iso) => (iso ? Date.parse(iso) : NaN);
  const base = at(a.updated_at || a.raised_at);
  const pick = (abs, rel) => {
    if (abs in a) return a[abs] === null ? null : at(a[abs]);
    if (typeof a[rel] === "number" && Number.isFinite(base)) return base + a[rel] * 1000;
    return null;
  };
  const clean = (v) => (v === null || Number.isNaN(v) ? null : v);
  return {
    cpa: clean(pick("t_cpa", "t_cpa_s")),
    enter: clean(pick("t_enter", "t_enter_s")),
    exit: clean("t_exit" in a && a.t_exit !== null ? at(a.t_exit) : null),
  };
}
