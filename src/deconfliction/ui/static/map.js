// The map: MapLibre GL JS (vendored) over an offline Natural Earth basemap, with the picture's
// plans, areas, live tracks as APP-6 symbols (milsymbol, vendored), and the controls a watch
// officer expects (zoom, scale in NM and km, cursor position in degrees-minutes and MGRS, range
// and bearing, layer switches). The tracks are drawn by a WebGL layer of our own (tracks.js);
// labels are MapLibre symbols: it places them without overlap.
import { degMin, destination, metresPerPixel, mgrs, niceLength, rangeBearing, unwrap, NM_M } from "./geo.js";
import { TrackLayer, mercX, mercY, symbol } from "./tracks.js";

export { symbol };
const maplibregl = window.maplibregl;
const here = (path) => new URL(path, import.meta.url).href;
maplibregl.setWorkerUrl(here("vendor/maplibre-gl/maplibre-gl-csp-worker.js"));

const FONT = ["DejaVuSans"];
// course/speed leaders and history trails show from this zoom (under it: a few pixels long)
export const LINES_MINZOOM = 6.5;
// tracks drawn alone in view (and half a view around) are labelled when there are this many or
// fewer; more, and the picture shows their symbols only (zooming in brings the labels)
export const LABELS_MAX = 1000;
const EMPTY = { type: "FeatureCollection", features: [] };
export const CONFLICT_RED = "#d7191c";
export const SELECTED = "#ffb000";
export const DRAFT = "#7b3294";

// the layer switches: group -> the map layers it shows or hides
export const GROUPS = {
  own: ["own-fill", "own-line", "own-line-dash", "own-label"],
  others: ["others-fill", "others-line", "others-line-dash", "others-label"],
  areas: ["areas-fill", "areas-line", "areas-line-dash", "areas-label"],
  tracks: ["tracks", "track-label", "track-box"], // "tracks": our WebGL layer (tracks.js)
  conflicts: ["selected-casing", "conflict-line"],
  labels: ["place-country", "place-capital", "place-capital-dot", "own-label", "others-label",
           "areas-label", "track-label"],
};

function graticule(step, maxLat = 80) {
  const lines = [];
  for (let lon = -180; lon <= 180; lon += step) {
    const pts = [];
    for (let lat = -maxLat; lat <= maxLat; lat += Math.min(step, 5)) pts.push([lon, lat]);
    lines.push(pts);
  }
  for (let lat = -maxLat; lat <= maxLat; lat += step) {
    const pts = [];
    for (let lon = -180; lon <= 180; lon += 5) pts.push([lon, lat]);
    lines.push(pts);
  }
  return { type: "FeatureCollection", features: [{ type: "Feature", properties: {}, geometry: { type: "MultiLineString", coordinates: lines } }] };
}

function recordLayers(group) {
  const f = ["all", ["==", ["get", "group"], group]];
  const color = ["get", "color"];
  return [
    group === "areas"
      ? { id: `${group}-fill`, type: "fill", source: "records", filter: f,
          paint: { "fill-pattern": "hatch", "fill-opacity": 0.55 } }
      : { id: `${group}-fill`, type: "fill", source: "records", filter: f,
          paint: { "fill-color": color, "fill-opacity": 0.07 } },
    { id: `${group}-line`, type: "line", source: "records", filter: [...f, ["==", ["get", "dash"], false]],
      paint: { "line-color": color, "line-width": 1.6 } },
    { id: `${group}-line-dash`, type: "line", source: "records", filter: [...f, ["==", ["get", "dash"], true]],
      paint: { "line-color": color, "line-width": 1.6, "line-dasharray": group === "areas" ? [1, 1.5] : [4, 3] } },
  ];
}

function labelLayer(group) {
  return {
    id: `${group}-label`, type: "symbol", source: "record-labels",
    filter: ["==", ["get", "group"], group],
    layout: { "text-field": ["get", "label"], "text-font": FONT, "text-size": 11,
              "text-max-width": 12, "symbol-sort-key": 2 },
    paint: { "text-color": ["get", "color"], "text-halo-color": "#ffffff", "text-halo-width": 1.4 },
  };
}

// where a track's label may go, best first: away from its course/speed leader (by the course
// rounded to 45 degrees, the feature's "h8")
function anchorsByCourse() {
  const expr = ["match", ["get", "h8"]];
  for (let h = 0; h < 360; h += 45) {
    const r = (h * Math.PI) / 180;
    const east = [["right", [-1.8, 0]], ["left", [1.8, 0]]];
    const side = Math.sin(r) >= -1e-9 ? east : [east[1], east[0]];
    const north = [["top", [0, 1.5]], ["bottom", [0, -1.5]]];
    const updown = Math.cos(r) >= 0 ? north : [north[1], north[0]];
    expr.push(h, ["literal", [side[0], updown[0], side[1], updown[1]].flat()]);
  }
  expr.push(["literal", ["left", [1.8, 0], "right", [-1.8, 0]]]);
  return expr;
}

export function baseStyle(lang) {
  return {
    version: 8,
    glyphs: `${location.origin}/ui/glyphs/{fontstack}/{range}.pbf`,
    sources: {
      land110: { type: "geojson", data: here("basemap/land-110m.json") },
      land50: { type: "geojson", data: here("basemap/land-50m.json") },
      borders110: { type: "geojson", data: here("basemap/borders-110m.json") },
      borders50: { type: "geojson", data: here("basemap/borders-50m.json") },
      places: { type: "geojson", data: here("basemap/places.json") },
      grat10: { type: "geojson", data: graticule(10) },
      grat1: { type: "geojson", data: graticule(1) },
      records: { type: "geojson", data: EMPTY },
      "record-labels": { type: "geojson", data: EMPTY },
      selected: { type: "geojson", data: EMPTY },
      draft: { type: "geojson", data: EMPTY },
      // the tracks drawn alone in view, for their labels (the tracks themselves: tracks.js)
      "track-labels": { type: "geojson", data: EMPTY },
      tool: { type: "geojson", data: EMPTY },
    },
    layers: [
      { id: "sea", type: "background", paint: { "background-color": "#cfe0ee" } },
      { id: "land-110", type: "fill", source: "land110", maxzoom: 3.5, paint: { "fill-color": "#f1efe7" } },
      { id: "land-50", type: "fill", source: "land50", minzoom: 3.5, paint: { "fill-color": "#f1efe7" } },
      { id: "coast-110", type: "line", source: "land110", maxzoom: 3.5, paint: { "line-color": "#8c9aa6", "line-width": 0.7 } },
      { id: "coast-50", type: "line", source: "land50", minzoom: 3.5, paint: { "line-color": "#8c9aa6", "line-width": 0.9 } },
      { id: "borders-110", type: "line", source: "borders110", maxzoom: 3.5,
        paint: { "line-color": "#a39c8c", "line-width": 0.7, "line-dasharray": [3, 2] } },
      { id: "borders-50", type: "line", source: "borders50", minzoom: 3.5,
        paint: { "line-color": "#a39c8c", "line-width": 0.9, "line-dasharray": [3, 2] } },
      { id: "graticule-10", type: "line", source: "grat10", maxzoom: 5, paint: { "line-color": "rgba(50,70,90,0.2)", "line-width": 0.7 } },
      { id: "graticule-1", type: "line", source: "grat1", minzoom: 5, paint: { "line-color": "rgba(50,70,90,0.2)", "line-width": 0.7 } },
      { id: "place-country", type: "symbol", source: "places",
        filter: ["all", ["==", ["get", "kind"], "country"], [">=", ["zoom"], ["-", 3.2, ["get", "rank"]]]],
        layout: { "text-field": ["get", `name_${lang}`], "text-font": FONT, "text-size": 11,
                  "text-transform": "uppercase", "text-letter-spacing": 0.12, "text-max-width": 8,
                  "symbol-sort-key": ["-", 0, ["get", "rank"]] },
        paint: { "text-color": "#7a7263", "text-halo-color": "#f1efe7", "text-halo-width": 1.2 } },
      { id: "place-capital-dot", type: "circle", source: "places", minzoom: 3,
        filter: ["==", ["get", "kind"], "capital"],
        paint: { "circle-radius": 2.5, "circle-color": "#5b5548", "circle-stroke-color": "#fff", "circle-stroke-width": 1 } },
      { id: "place-capital", type: "symbol", source: "places", minzoom: 3,
        filter: ["==", ["get", "kind"], "capital"],
        layout: { "text-field": ["get", `name_${lang}`], "text-font": FONT, "text-size": 11,
                  "text-anchor": "left", "text-offset": [0.5, 0], "symbol-sort-key": 1 },
        paint: { "text-color": "#4a4538", "text-halo-color": "#ffffff", "text-halo-width": 1.2 } },
      { id: "selected-casing", type: "line", source: "selected",
        paint: { "line-color": SELECTED, "line-width": 9, "line-opacity": 0.75, "line-blur": 1 } },
      ...recordLayers("areas"),
      ...recordLayers("others"),
      ...recordLayers("own"),
      // in conflict: a red line beside the owner's (both colours read)
      { id: "conflict-line", type: "line", source: "records", filter: ["==", ["get", "conflict"], true],
        paint: { "line-color": CONFLICT_RED, "line-width": 2.2, "line-offset": 2.2 } },
      { id: "draft-fill", type: "fill", source: "draft", paint: { "fill-color": DRAFT, "fill-opacity": 0.12 } },
      { id: "draft-line", type: "line", source: "draft",
        paint: { "line-color": ["case", ["get", "conflict"], CONFLICT_RED, DRAFT], "line-width": 2.4, "line-dasharray": [2, 1] } },
      { id: "draft-vertex", type: "circle", source: "draft", filter: ["==", ["geometry-type"], "Point"],
        paint: { "circle-radius": 4, "circle-color": DRAFT } },
      labelLayer("areas"),
      labelLayer("others"),
      labelLayer("own"),
      // (here MapLibre draws our track layer, tracks.js: trails, leaders, aggregates, symbols)
      // one label a track (callsign; flight level or altitude, speed), on the side its course
      // leaves free when it can, else wherever MapLibre finds room; never over another label
      { id: "track-label", type: "symbol", source: "track-labels",
        layout: { "text-field": ["get", "label"], "text-font": FONT, "text-size": 11,
                  "text-variable-anchor-offset": anchorsByCourse(), "text-justify": "auto",
                  "text-optional": true, "symbol-sort-key": ["case", ["get", "alert"], 0, 1] },
        paint: { "text-color": "#1b2430", "text-halo-color": "#ffffff", "text-halo-width": 1.5 } },
      // each labelled track's symbol again, not drawn (opacity 0) but placed first: labels make
      // way for symbols (a track is never hidden by a label)
      { id: "track-box", type: "symbol", source: "track-labels",
        layout: { "icon-image": ["get", "icon"], "icon-allow-overlap": true, "icon-ignore-placement": false,
                  "icon-anchor": "top-left", "icon-offset": [0, 0], "icon-padding": 0 },
        paint: { "icon-opacity": 0 } },
      { id: "tool-line", type: "line", source: "tool",
        paint: { "line-color": "#111111", "line-width": 2, "line-dasharray": [3, 2] } },
      { id: "tool-point", type: "circle", source: "tool", filter: ["==", ["geometry-type"], "Point"],
        paint: { "circle-radius": 4, "circle-color": "#ffffff", "circle-stroke-color": "#111111", "circle-stroke-width": 2 } },
      { id: "tool-label", type: "symbol", source: "tool", filter: ["has", "label"],
        layout: { "text-field": ["get", "label"], "text-font": FONT, "text-size": 12, "text-max-width": 40,
                  "text-allow-overlap": true, "text-anchor": "bottom", "text-offset": [0, -0.6] },
        paint: { "text-color": "#111111", "text-halo-color": "#ffffff", "text-halo-width": 2 } },
    ],
  };
}

// a diagonal hatch for restricted areas (drawn once; colour shows on the outline)
function hatch() {
  const n = 12;
  const c = document.createElement("canvas");
  c.width = c.height = n;
  const g = c.getContext("2d");
  g.strokeStyle = "rgba(90, 70, 70, 0.55)";
  g.lineWidth = 1.2;
  g.beginPath();
  g.moveTo(0, n); g.lineTo(n, 0);
  g.moveTo(-n / 2, n / 2); g.lineTo(n / 2, -n / 2);
  g.moveTo(n / 2, n * 1.5); g.lineTo(n * 1.5, n / 2);
  g.stroke();
  return g.getImageData(0, 0, n, n);
}

export function symbolImage(sidc, size = 20) {
  return symbol(sidc, size).image;
}

export class CopMap {
  constructor(container, { lang, t, onHover, onClick }) {
    this.t = t;
    this.lang = lang;
    this.container = container;
    this.tool = null; // range and bearing: {a: [lon, lat], b: [lon, lat] | null}
    this.drawing = null; // {points: [[lon, lat]], onchange}
    this.onClick = onClick;
    this.onHover = onHover;
    this.visible = Object.fromEntries(Object.keys(GROUPS).map((g) => [g, true]));
    this.map = new maplibregl.Map({
      container,
      style: baseStyle(lang),
      center: [30, 35],
      zoom: 3,
      maxZoom: 17,
      attributionControl: false,
      dragRotate: false,
      pitchWithRotate: false,
      canvasContextAttributes: { preserveDrawingBuffer: true },
      fadeDuration: 0, // labels appear at once: fewer frames on a machine without a GPU
      locale: this._locale(),
    });
    this.nav = new maplibregl.NavigationControl({ showCompass: false });
    this.map.addControl(this.nav, "top-right");
    this.map.on("styleimagemissing", (e) => this._addSymbol(e.id));
    this.map.on("move", () => this._moved());
    this.map.on("mousemove", (e) => this._pointer(e));
    this.map.getCanvas().addEventListener("mouseleave", () => this._leave());
    this.map.on("movestart", () => this._leave()); // what was under the pointer has moved
    this.map.on("click", (e) => this._click(e));
    this.map.on("idle", () => { container.dataset.idle = String(Date.now()); });
    this.trackLayer = new TrackLayer(this.map, { linesMinZoom: LINES_MINZOOM });
    // leaders, trails and labels are made for the view: again once the view has settled
    let settle = null;
    this.map.on("moveend", () => {
      clearTimeout(settle);
      settle = setTimeout(() => { this.trackLayer.viewChanged(); this._labels(); }, 300);
    });
    this.ready = new Promise((res) => this.map.once("load", () => {
      this.map.addLayer(this.trackLayer, "track-label");
      this.map.addImage("hatch", hatch());
      this._moved();
      res();
    }));
  }

  _locale() {
    const t = this.t;
    return { "NavigationControl.ZoomIn": t("zoomIn"), "NavigationControl.ZoomOut": t("zoomOut"),
             "NavigationControl.ResetBearing": t("resetNorth") };
  }

  setLanguage(lang, t) {
    this.lang = lang;
    this.t = t;
    for (const id of ["place-country", "place-capital"]) this.map.setLayoutProperty(id, "text-field", ["get", `name_${lang}`]);
    const loc = this._locale();
    for (const [cls, key] of [["zoom-in", "NavigationControl.ZoomIn"], ["zoom-out", "NavigationControl.ZoomOut"]]) {
      const b = this.container.querySelector(`.maplibregl-ctrl-${cls}`);
      if (b) { b.title = loc[key]; b.setAttribute("aria-label", loc[key]); }
    }
    this._moved();
    this._drawTool();
  }

  _addSymbol(id) {
    if (!id.startsWith("ms:") || this.map.hasImage(id)) return;
    this.map.addImage(id, symbolImage(id.slice(3)), { pixelRatio: 2 });
  }

  // each symbol's frame centre on its point: the image's top-left corner moved by its anchor
  _offsets(codes) {
    this._known = this._known || new Set();
    const fresh = codes.filter((c) => !this._known.has(c));
    if (!fresh.length) return;
    for (const c of fresh) this._known.add(c);
    const expr = ["match", ["get", "icon"]];
    for (const c of this._known) {
      const a = symbol(c).anchor;
      expr.push(`ms:${c}`, ["literal", [-a[0], -a[1]]]);
    }
    expr.push(["literal", [0, 0]]);
    this.map.setLayoutProperty("track-box", "icon-offset", expr);
  }

  // --- data -------------------------------------------------------------------------------------
  setRecords(features, labels, selected) {
    this.map.getSource("records").setData({ type: "FeatureCollection", features });
    this.map.getSource("record-labels").setData({ type: "FeatureCollection", features: labels });
    this.map.getSource("selected").setData({ type: "FeatureCollection", features: selected });
    this.container.dataset.features = String(features.length);
  }

  setDraft(features) {
    this.map.getSource("draft").setData({ type: "FeatureCollection", features });
  }

  // d: the tracks as arrays (TrackLayer.setData); labelOf(i): track i's label
  setTracks(d, labelOf) {
    this.trackLayer.setData(d);
    this.labelOf = labelOf;
    this._labels();
    this.container.dataset.tracks = String(d.n);
  }

  // labels for the tracks drawn alone in view (and half a view around), when few enough
  _labels() {
    const layer = this.trackLayer;
    const d = layer.data;
    if (!d || !this.labelOf) return;
    const [w, s, e, n] = this.viewBox(0.5);
    const x0 = mercX(w), x1 = mercX(e), y0 = mercY(n), y1 = mercY(s);
    const ids = layer.singles.filter((i) => d.mx[i] >= x0 && d.mx[i] <= x1 && d.my[i] >= y0 && d.my[i] <= y1);
    const feats = [];
    if (ids.length <= LABELS_MAX) {
      const codes = new Set();
      for (const i of ids) {
        codes.add(d.sidc[i]);
        feats.push({
          type: "Feature",
          properties: { key: d.keys[i], icon: `ms:${d.sidc[i]}`, label: this.labelOf(i),
                        h8: (((Math.round((d.course_deg[i] || 0) / 45) * 45) % 360) + 360) % 360,
                        alert: d.alert[i] === 1 },
          geometry: { type: "Point", coordinates: [d.lon[i], d.lat[i]] },
        });
      }
      this._offsets([...codes]);
    }
    if (!feats.length && !this.labelled) return;
    this.labelled = feats.length;
    this.map.getSource("track-labels").setData({ type: "FeatureCollection", features: feats });
  }

  // what the track layer draws in view (for tests and bench/ui.py), with the labels' count
  drawn() {
    return { ...this.trackLayer.drawn(), labelled: this.labelled || 0 };
  }

  // only what is active at ``when`` (ms; null: everything)
  setTime(when) {
    const tf = when === null ? true : ["all", ["<=", ["get", "t0"], when], [">=", ["get", "t1"], when]];
    for (const g of ["own", "others", "areas"]) {
      const base = ["==", ["get", "group"], g];
      this.map.setFilter(`${g}-fill`, ["all", base, tf]);
      this.map.setFilter(`${g}-line`, ["all", base, ["==", ["get", "dash"], false], tf]);
      this.map.setFilter(`${g}-line-dash`, ["all", base, ["==", ["get", "dash"], true], tf]);
      this.map.setFilter(`${g}-label`, ["all", base, tf]);
    }
    this.map.setFilter("conflict-line", ["all", ["==", ["get", "conflict"], true], tf]);
    this.map.setFilter("selected-casing", tf);
  }

  setGroup(group, on) {
    this.visible[group] = on;
    const shown = new Set();
    for (const [g, ids] of Object.entries(GROUPS)) if (this.visible[g]) for (const id of ids) shown.add(id);
    // a label shows only when its group and "labels" are both on
    for (const ids of Object.values(GROUPS)) {
      for (const id of ids) {
        const groupsOf = Object.entries(GROUPS).filter(([, l]) => l.includes(id)).map(([g]) => g);
        const on2 = groupsOf.every((g) => this.visible[g]);
        if (id === this.trackLayer.id) this.trackLayer.setVisible(on2);
        else this.map.setLayoutProperty(id, "visibility", on2 ? "visible" : "none");
      }
    }
    this.container.dataset.layers = Object.entries(this.visible).filter(([, v]) => v).map(([g]) => g).join(" ");
  }

  fit(lonMin, latMin, lonMax, latMax, pad = 60) {
    this.map.fitBounds([[lonMin, latMin], [lonMax, latMax]], { padding: pad, duration: 0, maxZoom: 12 });
  }

  // --- view and pointer ---------------------------------------------------------------------------
  _moved() {
    const c = this.map.getCenter();
    const z = this.map.getZoom();
    const d = this.container.dataset;
    d.zoom = z.toFixed(2);
    d.centerLon = c.lng.toFixed(4);
    d.centerLat = c.lat.toFixed(4);
    this._scale(z, c.lat);
  }

  _scale(zoom, lat) {
    const el = document.getElementById("scale");
    if (!el) return;
    const mpp = metresPerPixel(zoom, lat);
    el.dataset.mpp = String(mpp);
    const t = this.t;
    for (const [unit, m, label] of [["nm", NM_M, t("nm")], ["km", 1000, t("km")]]) {
      let { value, px } = niceLength(m, mpp, 120);
      let metres = value * m;
      let shown = `${value} ${label}`;
      if (unit === "km" && value < 1) { // under a kilometre: metres
        ({ value, px } = niceLength(1, mpp, 120));
        metres = value;
        shown = `${value} ${t("m")}`;
      }
      const bar = el.querySelector(`[data-unit=${unit}]`);
      bar.style.width = `${Math.round(px)}px`;
      bar.dataset.px = String(px);
      bar.dataset.metres = String(metres);
      bar.querySelector("span").textContent = shown;
    }
  }

  _pointer(e) {
    const { lng, lat } = e.lngLat;
    const el = document.getElementById("cursor");
    if (el) {
      el.dataset.lon = String(lng);
      el.dataset.lat = String(lat);
      el.querySelector("[data-f=dm]").textContent = degMin(lng, lat);
      el.querySelector("[data-f=mgrs]").textContent = mgrs(lng, lat) ?? "—";
    }
    if (this.tool && this.tool.a && !this.tool.fixed) {
      this.tool.b = [lng, lat];
      this._drawTool();
    }
    if (this.drawing) return;
    const hits = this._hits(e.point);
    this.onHover?.(hits, e.point);
    this.map.getCanvas().style.cursor = hits.length ? "pointer" : "";
  }

  // what is under a point, the top first: tracks and aggregates, then plans and areas
  _hits(point) {
    const layers = ["own-fill", "others-fill", "areas-fill"].filter(
      (id) => this.map.getLayoutProperty(id, "visibility") !== "none");
    return [...this.trackLayer.hits(point), ...this.map.queryRenderedFeatures(point, { layers })];
  }

  _leave() {
    this.onHover?.([], null);
  }

  _click(e) {
    const p = [e.lngLat.lng, e.lngLat.lat];
    if (this.tool) {
      if (!this.tool.a || this.tool.fixed) this.tool = { a: p, b: null, fixed: false };
      else { this.tool.b = p; this.tool.fixed = true; }
      this._drawTool();
      return;
    }
    if (this.drawing) {
      this.drawing.points.push(p);
      this.drawing.onchange?.();
      return;
    }
    const hits = this._hits(e.point);
    const cluster = hits.find((h) => h.layer.id === "clusters");
    if (cluster) { // open it up
      const z = this.trackLayer.expansionZoom(cluster.cluster);
      this.map.easeTo({ center: cluster.geometry.coordinates, zoom: z });
      return;
    }
    this.onClick?.(hits);
  }

  // the part of the world in view, with a margin (for what is worth drawing only there)
  viewBox(margin = 0.5) {
    const b = this.map.getBounds();
    const w = b.getEast() - b.getWest(), h = b.getNorth() - b.getSouth();
    return [b.getWest() - margin * w, b.getSouth() - margin * h, b.getEast() + margin * w, b.getNorth() + margin * h];
  }

  // --- range and bearing --------------------------------------------------------------------------
  setTool(on) {
    this.tool = on ? { a: null, b: null, fixed: false } : null;
    this.map.getCanvas().style.cursor = on ? "crosshair" : "";
    this._drawTool();
  }

  _drawTool() {
    const out = document.getElementById("rb-readout");
    const src = this.map.getSource("tool");
    if (!src) return;
    if (!this.tool || !this.tool.a) {
      src.setData(EMPTY);
      if (out) { out.textContent = ""; delete out.dataset.distanceM; delete out.dataset.bearingDeg; }
      return;
    }
    const { a, b } = this.tool;
    const feats = [{ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: a } }];
    if (b) {
      const { distance_m, bearing_deg } = rangeBearing(a, b);
      const t = this.t;
      const brg = String(Math.round(bearing_deg) % 360).padStart(3, "0");
      const label = `${(distance_m / NM_M).toFixed(1)} ${t("nm")} · ${(distance_m / 1000).toFixed(1)} ${t("km")} · ${brg}° ${t("true")}`;
      // the great circle, drawn as such (it bends on the Mercator map)
      const pts = greatCircle(a, b, 32);
      feats.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: pts } });
      feats.push({ type: "Feature", properties: { label }, geometry: { type: "Point", coordinates: b } });
      if (out) {
        out.textContent = label;
        out.dataset.distanceM = String(distance_m);
        out.dataset.bearingDeg = String(bearing_deg);
      }
    }
    src.setData({ type: "FeatureCollection", features: feats });
  }
}

function greatCircle(a, b, n) {
  const pts = [a];
  let cur = a;
  for (let i = 0; i < n; i++) {
    const { distance_m, bearing_deg } = rangeBearing(cur, b);
    cur = destination(cur[0], cur[1], bearing_deg, distance_m / (n - i));
    pts.push(cur);
  }
  return unwrap(pts);
}
