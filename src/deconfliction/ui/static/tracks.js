// Live tracks drawn by the map's own WebGL layer (MapLibre's CustomLayerInterface): one typed
// array of quads an update, no GeoJSON, no tiling, no round trip through MapLibre's worker.
// It draws, bottom to top: history trails, course/speed leaders, aggregates (five or more tracks
// within ~40 px, as one circle with their count) and the APP-6 symbols (milsymbol's images,
// packed into one texture atlas). Labels stay MapLibre symbols (map.js), made only for the
// tracks drawn one by one in view, so that MapLibre places them without overlap.
const ms = window.ms;

export const CLUSTER_RADIUS_PX = 40; // tracks closer than this on the screen ...
export const CLUSTER_MIN = 5; // ... this many or more, are drawn as one aggregate
export const CLUSTER_MAX_ZOOM = 10; // from the next whole zoom on, every track on its own
export const LEADER_S = 60; // the course/speed leader: where the track will be in a minute
const EARTH_M = 40075016.686; // the equator's length (Web Mercator)
const TILE_PX = 512; // MapLibre's world at zoom 0, in pixels
const INK = "#1b2430";
const FRIEND = "#80e0ff", NEUTRAL = "#aaffaa", UNKNOWN = "#ffff80";
const ALERT = "#d7191c";

// --- positions in Web Mercator (0..1, y down), as MapLibre's world ---------------------------------
export function mercX(lon) { return (lon + 180) / 360; }
export function mercY(lat) {
  const s = Math.sin((Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180);
  return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
}

// --- images -------------------------------------------------------------------------------------
// an APP-6 symbol as an image (twice the display size) and where its anchor, the centre of the
// frame, lies in it (display pixels)
const SYMBOLS = new Map();
export function symbol(sidc, size = 20) {
  const key = `${sidc}/${size}`;
  if (!SYMBOLS.has(key)) {
    const sym = new ms.Symbol(sidc, { size, standard: "APP6", simpleStatusModifier: true });
    const canvas = sym.asCanvas(2);
    const a = sym.getAnchor();
    const image = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    SYMBOLS.set(key, { canvas, image, anchor: [a.x, a.y], width: canvas.width / 2, height: canvas.height / 2 });
  }
  return SYMBOLS.get(key);
}

// aggregates: radius by count, fill by the affiliation most of them have, ring red when one of
// them is in an alert
export function clusterRadius(count) {
  return count < 20 ? 12 : count < 100 ? 15 : count < 1000 ? 19 : 24;
}
export function clusterFill(c) {
  return 2 * c.friend >= c.count ? FRIEND : 2 * c.neutral >= c.count ? NEUTRAL : UNKNOWN;
}
export function abbreviated(count) {
  return count >= 10000 ? `${Math.round(count / 1000)}k` : count >= 1000 ? `${Math.round(count / 100) / 10}k` : String(count);
}

// every image the layer draws, in one canvas (2 pixels a display pixel), rows of images
class Atlas {
  constructor() {
    this.canvas = document.createElement("canvas");
    this.canvas.width = 1024;
    this.canvas.height = 256;
    this.x = 2;
    this.y = 2;
    this.rowH = 0;
    // key -> {sx, sy, sw, sh (atlas px), w, h, ax, ay (display px), adv (a glyph's advance)}
    this.items = new Map();
    this.version = 1;
  }

  get(key, make) {
    let it = this.items.get(key);
    if (it) return it;
    const { canvas, w, h, ax, ay, adv } = make();
    if (this.x + canvas.width + 2 > this.canvas.width) { this.x = 2; this.y += this.rowH + 2; this.rowH = 0; }
    while (this.y + canvas.height + 2 > this.canvas.height) {
      const bigger = document.createElement("canvas");
      bigger.width = this.canvas.width;
      bigger.height = this.canvas.height * 2;
      bigger.getContext("2d").drawImage(this.canvas, 0, 0);
      this.canvas = bigger;
    }
    this.canvas.getContext("2d").drawImage(canvas, this.x, this.y);
    it = { sx: this.x, sy: this.y, sw: canvas.width, sh: canvas.height, w, h, ax, ay, adv };
    this.x += canvas.width + 2;
    this.rowH = Math.max(this.rowH, canvas.height);
    this.items.set(key, it);
    this.version++;
    return it;
  }

  symbol(sidc) {
    return this.get(`ms:${sidc}`, () => {
      const s = symbol(sidc);
      return { canvas: s.canvas, w: s.width, h: s.height, ax: s.anchor[0], ay: s.anchor[1] };
    });
  }

  circle(radius, fill, alert) {
    return this.get(`circle:${radius}:${fill}:${alert}`, () => {
      const stroke = alert ? 3 : 1.2;
      const half = Math.ceil(radius + stroke / 2 + 1);
      const c = document.createElement("canvas");
      c.width = c.height = 4 * half;
      const g = c.getContext("2d");
      g.scale(2, 2);
      g.beginPath();
      g.arc(half, half, radius, 0, 2 * Math.PI);
      g.fillStyle = fill;
      g.fill();
      g.lineWidth = stroke;
      g.strokeStyle = alert ? ALERT : INK;
      g.stroke();
      return { canvas: c, w: 2 * half, h: 2 * half, ax: half, ay: half };
    });
  }

  // one character of an aggregate's count (11 px), anchored at its left on the baseline's middle
  glyph(ch) {
    return this.get(`glyph:${ch}`, () => {
      const c = document.createElement("canvas");
      const g0 = c.getContext("2d");
      const font = 'bold 22px "DejaVu Sans", sans-serif';
      g0.font = font;
      const adv = g0.measureText(ch).width / 2;
      c.width = Math.ceil(adv * 2) + 2;
      c.height = 30;
      const g = c.getContext("2d");
      g.font = font;
      g.fillStyle = INK;
      g.textBaseline = "middle";
      g.fillText(ch, 1, 15);
      return { canvas: c, w: c.width / 2, h: c.height / 2, ax: 0.5, ay: 7.5, adv };
    });
  }
}

// --- aggregation: supercluster's rule at one zoom, on a grid of the radius ------------------------
// Tracks are taken in order; one with CLUSTER_MIN or more not yet taken within the radius (itself
// included) takes them all into an aggregate at their mean position. Returns the tracks drawn
// alone (indices) and the aggregates.
export function aggregate(mx, my, n, zoom, alert, aff, only = null) {
  const singles = [];
  const clusters = [];
  if (Math.floor(zoom) > CLUSTER_MAX_ZOOM) {
    if (only) return { singles: Array.from(only), clusters };
    for (let i = 0; i < n; i++) singles.push(i);
    return { singles, clusters };
  }
  const scale = (TILE_PX * 2 ** Math.floor(zoom)) / CLUSTER_RADIUS_PX; // grid cells a Mercator unit
  const r2 = 1 / (scale * scale);
  const ids = only ? Array.from(only) : Array.from({ length: n }, (_, i) => i);
  const cells = new Map();
  for (let k = 0; k < ids.length; k++) {
    const i = ids[k];
    const key = Math.floor(my[i] * scale) * 1e8 + Math.floor(mx[i] * scale);
    const list = cells.get(key);
    if (list) list.push(i); else cells.set(key, [i]);
  }
  const taken = new Uint8Array(n);
  const near = [];
  for (let k = 0; k < ids.length; k++) {
    const i = ids[k];
    if (taken[i]) continue;
    const cx = Math.floor(mx[i] * scale), cy = Math.floor(my[i] * scale);
    near.length = 0;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const list = cells.get((cy + dy) * 1e8 + cx + dx);
        if (!list) continue;
        for (const j of list) {
          if (taken[j]) continue;
          const ex = mx[j] - mx[i], ey = my[j] - my[i];
          if (ex * ex + ey * ey <= r2) near.push(j);
        }
      }
    }
    if (near.length < CLUSTER_MIN) { singles.push(i); taken[i] = 1; continue; }
    let sx = 0, sy = 0, friend = 0, neutral = 0, hot = 0;
    const members = new Int32Array(near.length);
    for (let m = 0; m < near.length; m++) {
      const j = near[m];
      taken[j] = 1;
      members[m] = j;
      sx += mx[j]; sy += my[j];
      if (aff[j] === 0) friend++; else if (aff[j] === 1) neutral++;
      if (alert[j]) hot = 1;
    }
    clusters.push({ mx: sx / near.length, my: sy / near.length, count: near.length, friend, neutral, alert: hot, members });
  }
  return { singles, clusters };
}

// --- WebGL ------------------------------------------------------------------------------------------
const SPRITE_VS = `
attribute vec2 a_corner;
attribute vec2 a_pos;
attribute vec4 a_box;
attribute vec4 a_tex;
uniform mat4 u_matrix;
uniform vec2 u_viewport;
uniform float u_ratio;
uniform vec2 u_atlas;
varying vec2 v_uv;
void main() {
  vec4 p = u_matrix * vec4(a_pos, 0.0, 1.0);
  vec2 px = floor((p.xy / p.w * 0.5 + 0.5) * u_viewport * u_ratio + 0.5);
  px += (a_box.xy + a_corner * a_box.zw) * vec2(1.0, -1.0) * u_ratio;
  gl_Position = vec4(px / (u_viewport * u_ratio) * 2.0 - 1.0, 0.0, 1.0);
  v_uv = (a_tex.xy + a_corner * a_tex.zw) / u_atlas;
}`;
const SPRITE_FS = `
precision mediump float;
uniform sampler2D u_tex;
varying vec2 v_uv;
void main() { gl_FragColor = texture2D(u_tex, v_uv); }`;
const LINE_VS = `
attribute vec2 a_corner;
attribute vec4 a_seg;
attribute vec4 a_color;
attribute vec2 a_style;
uniform mat4 u_matrix;
uniform vec2 u_viewport;
varying vec4 v_color;
varying float v_along;
varying float v_dash;
void main() {
  vec4 p0 = u_matrix * vec4(a_seg.xy, 0.0, 1.0);
  vec4 p1 = u_matrix * vec4(a_seg.zw, 0.0, 1.0);
  vec2 s0 = p0.xy / p0.w * 0.5 * u_viewport;
  vec2 s1 = p1.xy / p1.w * 0.5 * u_viewport;
  vec2 d = s1 - s0;
  float len = length(d);
  vec2 dir = len > 0.0 ? d / len : vec2(1.0, 0.0);
  vec2 s = mix(s0, s1, a_corner.x) + vec2(-dir.y, dir.x) * a_corner.y * a_style.x * 0.5;
  gl_Position = vec4(s / (0.5 * u_viewport), 0.0, 1.0);
  v_color = a_color;
  v_along = a_corner.x * len;
  v_dash = a_style.y;
}`;
const LINE_FS = `
precision mediump float;
varying vec4 v_color;
varying float v_along;
varying float v_dash;
void main() {
  if (v_dash > 0.0 && mod(v_along, 2.0 * v_dash) > v_dash) discard;
  gl_FragColor = v_color;
}`;
const SPRITE_FLOATS = 10; // pos 2, box 4 (offset, size: display px), tex 4 (atlas px)
const LINE_FLOATS = 10; // seg 4, colour 4 (premultiplied), style 2 (width, dash: display px)

function compile(gl, vs, fs) {
  const prog = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(sh));
    gl.attachShader(prog, sh);
  }
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
  return prog;
}

// instancing and vertex arrays: WebGL 2, or WebGL 1 with its extensions
function instancing(gl) {
  if (typeof WebGL2RenderingContext !== "undefined" && gl instanceof WebGL2RenderingContext) {
    return { divisor: (i, d) => gl.vertexAttribDivisor(i, d), draw: (m, c, n) => gl.drawArraysInstanced(m, 0, c, n),
             vao: () => gl.createVertexArray(), bind: (v) => gl.bindVertexArray(v) };
  }
  const a = gl.getExtension("ANGLE_instanced_arrays"), v = gl.getExtension("OES_vertex_array_object");
  return { divisor: (i, d) => a.vertexAttribDivisorANGLE(i, d), draw: (m, c, n) => a.drawArraysInstancedANGLE(m, 0, c, n),
           vao: () => v.createVertexArrayOES(), bind: (x) => v.bindVertexArrayOES(x) };
}

const COLOURS = new Map();
function rgb(css) {
  let c = COLOURS.get(css);
  if (!c) {
    const g = document.createElement("canvas").getContext("2d");
    g.fillStyle = css;
    const h = g.fillStyle; // "#rrggbb"
    c = [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16) / 255);
    COLOURS.set(css, c);
  }
  return c;
}

// A growable Float32Array
class Floats {
  constructor(n) { this.a = new Float32Array(n); this.n = 0; }
  room(k) {
    if (this.n + k <= this.a.length) return;
    const b = new Float32Array(Math.max(this.a.length * 2, this.n + k));
    b.set(this.a.subarray(0, this.n));
    this.a = b;
  }
}

export class TrackLayer {
  constructor(map, { linesMinZoom }) {
    this.id = "tracks";
    this.type = "custom";
    this.renderingMode = "2d";
    this.map = map;
    this.linesMinZoom = linesMinZoom;
    this.visible = true;
    this.atlas = new Atlas();
    this.data = null; // what setData was given
    this.version = 0; // data version; drawnVersion: the version last drawn
    this.drawnVersion = 0;
    this.zoomKey = null; // the zoom the aggregates were made for
    this.singles = [];
    this.clusters = [];
    this.sprites = new Floats(SPRITE_FLOATS * 1024);
    this.lines = new Floats(LINE_FLOATS * 1024);
    this.counts = { leaders: 0, trails: 0 };
    this.origin = [0.5, 0.5];
    this.dirty = { sprites: false, lines: false };
  }

  onAdd(map, gl) {
    this.gl = gl;
    this.inst = instancing(gl);
    this.sprite = this._program(gl, SPRITE_VS, SPRITE_FS, [["a_pos", 2], ["a_box", 4], ["a_tex", 4]]);
    this.line = this._program(gl, LINE_VS, LINE_FS, [["a_seg", 4], ["a_color", 4], ["a_style", 2]]);
    this.texture = gl.createTexture();
    this.textureVersion = 0;
  }

  onRemove(map, gl) {
    for (const p of [this.sprite, this.line]) { gl.deleteProgram(p.prog); gl.deleteBuffer(p.buf); gl.deleteBuffer(p.corners); }
    gl.deleteTexture(this.texture);
  }

  _program(gl, vs, fs, attrs) {
    const prog = compile(gl, vs, fs);
    const vao = this.inst.vao();
    this.inst.bind(vao);
    const corners = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, corners);
    // two triangles: x along 0..1, y 0..1 (sprites) or -1..1 (lines, across)
    const across = vs === LINE_VS;
    const lo = across ? -1 : 0;
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, lo, 1, lo, 0, 1, 0, 1, 1, lo, 1, 1]), gl.STATIC_DRAW);
    const ci = gl.getAttribLocation(prog, "a_corner");
    gl.enableVertexAttribArray(ci);
    gl.vertexAttribPointer(ci, 2, gl.FLOAT, false, 0, 0);
    this.inst.divisor(ci, 0);
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    const stride = attrs.reduce((s, [, k]) => s + k, 0) * 4;
    let off = 0;
    for (const [name, k] of attrs) {
      const i = gl.getAttribLocation(prog, name);
      gl.enableVertexAttribArray(i);
      gl.vertexAttribPointer(i, k, gl.FLOAT, false, stride, off);
      this.inst.divisor(i, 1);
      off += k * 4;
    }
    this.inst.bind(null);
    gl.bindBuffer(gl.ARRAY_BUFFER, null);
    const u = {};
    for (const name of ["u_matrix", "u_viewport", "u_ratio", "u_atlas", "u_tex"]) u[name] = gl.getUniformLocation(prog, name);
    return { prog, vao, buf, corners, u, count: 0 };
  }

  // --- data ---------------------------------------------------------------------------------------
  // d: {n, lon, lat (Float64Array), course_deg, speed_mps (Float64Array), aff (Uint8Array: 0 friend,
  // 1 neutral, 2 unknown), alert (Uint8Array), sidc, keys, colors (arrays), trails (arrays of
  // [lon, lat])}
  setData(d) {
    const mx = new Float64Array(d.n), my = new Float64Array(d.n);
    for (let i = 0; i < d.n; i++) { mx[i] = mercX(d.lon[i]); my[i] = mercY(d.lat[i]); }
    d.mx = mx;
    d.my = my;
    this.data = d;
    this.version++;
    this._aggregate();
    this.viewChanged();
  }

  zoomBand(z = this.map.getZoom()) {
    return Math.floor(z) > CLUSTER_MAX_ZOOM ? "all" : String(Math.floor(z));
  }

  _aggregate() {
    const d = this.data;
    this.zoomKey = this.zoomBand();
    if (!d) return;
    const { singles, clusters } = aggregate(d.mx, d.my, d.n, this.map.getZoom(), d.alert, d.aff);
    this.singles = singles;
    this.clusters = clusters;
    this._buildSprites();
  }

  _buildSprites() {
    const d = this.data;
    const f = this.sprites;
    f.n = 0;
    const [ox, oy] = (this.origin = this._centre());
    const atlas = this.atlas;
    const put = (x, y, it, dx, dy) => {
      const a = f.a, k = f.n;
      a[k] = x - ox; a[k + 1] = y - oy;
      a[k + 2] = dx - it.ax; a[k + 3] = dy - it.ay; a[k + 4] = it.w; a[k + 5] = it.h;
      a[k + 6] = it.sx; a[k + 7] = it.sy; a[k + 8] = it.sw; a[k + 9] = it.sh;
      f.n += SPRITE_FLOATS;
    };
    for (const c of this.clusters) {
      const text = abbreviated(c.count);
      f.room(SPRITE_FLOATS * (1 + text.length));
      put(c.mx, c.my, atlas.circle(clusterRadius(c.count), clusterFill(c), c.alert), 0, 0);
      const glyphs = [...text].map((ch) => atlas.glyph(ch));
      let x = -glyphs.reduce((s, g) => s + g.adv, 0) / 2;
      for (const g of glyphs) { put(c.mx, c.my, g, x, 0); x += g.adv; }
    }
    f.room(SPRITE_FLOATS * this.singles.length);
    let last = null, it = null;
    for (const i of this.singles) {
      const s = d.sidc[i];
      if (s !== last) { it = atlas.symbol(s); last = s; }
      put(d.mx[i], d.my[i], it, 0, 0);
    }
    this.dirty.sprites = true;
  }

  // leaders and trails, for the tracks drawn alone in view (with half a view's margin), and only
  // from linesMinZoom (under it they would be a few pixels long)
  _buildLines() {
    const d = this.data;
    const f = this.lines;
    f.n = 0;
    this.counts = { leaders: 0, trails: 0 };
    this.dirty.lines = true;
    if (!d || this.map.getZoom() < this.linesMinZoom) return;
    const [ox, oy] = this.origin;
    const [w, s, e, n] = this.viewBox(0.5);
    const x0 = mercX(w), x1 = mercX(e), y0 = mercY(n), y1 = mercY(s);
    const ink = rgb(INK);
    const seg = (ax, ay, bx, by, c, alpha, width, dash) => {
      f.room(LINE_FLOATS);
      const a = f.a, k = f.n;
      a[k] = ax - ox; a[k + 1] = ay - oy; a[k + 2] = bx - ox; a[k + 3] = by - oy;
      a[k + 4] = c[0] * alpha; a[k + 5] = c[1] * alpha; a[k + 6] = c[2] * alpha; a[k + 7] = alpha;
      a[k + 8] = width; a[k + 9] = dash;
      f.n += LINE_FLOATS;
    };
    const inView = this.singles.filter((i) => d.mx[i] >= x0 && d.mx[i] <= x1 && d.my[i] >= y0 && d.my[i] <= y1);
    for (const i of inView) { // trails first: under the leaders
      const trail = d.trails[i];
      if (!trail || trail.length < 2) continue;
      const c = rgb(d.colors[i]);
      let px = mercX(trail[0][0]), py = mercY(trail[0][1]);
      for (let k = 1; k < trail.length; k++) {
        const qx = mercX(trail[k][0]), qy = mercY(trail[k][1]);
        seg(px, py, qx, qy, c, 0.55, 1.5, 1.5);
        px = qx; py = qy;
      }
      this.counts.trails++;
    }
    for (const i of inView) {
      const v = d.speed_mps[i];
      if (!(v > 0)) continue;
      // a minute on at this course: a rhumb line, in Mercator units (metres / (equator x cos lat))
      const len = (v * LEADER_S) / (EARTH_M * Math.cos((d.lat[i] * Math.PI) / 180));
      const r = ((d.course_deg[i] || 0) * Math.PI) / 180;
      seg(d.mx[i], d.my[i], d.mx[i] + Math.sin(r) * len, d.my[i] - Math.cos(r) * len, ink, 1, 1.6, 0);
      this.counts.leaders++;
    }
  }

  // the view moved: new aggregates when the zoom band changed, leaders and trails for the view
  viewChanged() {
    if (this.zoomBand() !== this.zoomKey) this._aggregate();
    this._buildLines();
    this.map.triggerRepaint();
  }

  setVisible(on) {
    this.visible = on;
    this.map.triggerRepaint();
  }

  _centre() {
    const c = this.map.getCenter();
    return [mercX(c.lng), mercY(c.lat)];
  }

  viewBox(margin = 0) {
    const b = this.map.getBounds();
    const w = b.getEast() - b.getWest(), h = b.getNorth() - b.getSouth();
    return [b.getWest() - margin * w, b.getSouth() - margin * h, b.getEast() + margin * w, b.getNorth() + margin * h];
  }

  // --- drawing ------------------------------------------------------------------------------------
  prerender() {
    // a zoom into another band (by the wheel, an animation): aggregates for it before drawing
    if (this.data && this.zoomBand() !== this.zoomKey) { this._aggregate(); this._buildLines(); }
  }

  render(gl, options) {
    if (!this.data) return;
    const inst = this.inst;
    const m = options.modelViewProjectionMatrix || options;
    const world = TILE_PX * 2 ** this.map.getZoom();
    // the map's matrix takes world pixels; ours, Mercator units from the origin (on the world copy
    // nearest the centre), so that float32 keeps its precision at any zoom
    const [cx] = this._centre();
    const ox = this.origin[0] + Math.round(cx - this.origin[0]), oy = this.origin[1];
    const mat = new Float32Array(16);
    for (let r = 0; r < 4; r++) {
      mat[r] = m[r] * world;
      mat[4 + r] = m[4 + r] * world;
      mat[8 + r] = m[8 + r];
      mat[12 + r] = m[r] * ox * world + m[4 + r] * oy * world + m[12 + r];
    }
    const ratio = this.map.getPixelRatio();
    const vw = gl.drawingBufferWidth / ratio, vh = gl.drawingBufferHeight / ratio;
    gl.disable(gl.DEPTH_TEST);
    gl.disable(gl.STENCIL_TEST);
    gl.disable(gl.CULL_FACE);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    if (this.dirty.lines) this._upload(gl, this.line, this.lines, LINE_FLOATS), (this.dirty.lines = false);
    if (this.dirty.sprites) this._upload(gl, this.sprite, this.sprites, SPRITE_FLOATS), (this.dirty.sprites = false);
    if (this.visible && this.line.count) {
      gl.useProgram(this.line.prog);
      gl.uniformMatrix4fv(this.line.u.u_matrix, false, mat);
      gl.uniform2f(this.line.u.u_viewport, vw, vh);
      inst.bind(this.line.vao);
      inst.draw(gl.TRIANGLES, 6, this.line.count);
    }
    if (this.visible && this.sprite.count) {
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.texture);
      if (this.textureVersion !== this.atlas.version) {
        gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, true);
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, this.atlas.canvas);
        gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
        this.textureVersion = this.atlas.version;
      }
      gl.useProgram(this.sprite.prog);
      gl.uniformMatrix4fv(this.sprite.u.u_matrix, false, mat);
      gl.uniform2f(this.sprite.u.u_viewport, vw, vh);
      gl.uniform1f(this.sprite.u.u_ratio, ratio);
      gl.uniform2f(this.sprite.u.u_atlas, this.atlas.canvas.width, this.atlas.canvas.height);
      gl.uniform1i(this.sprite.u.u_tex, 0);
      inst.bind(this.sprite.vao);
      inst.draw(gl.TRIANGLES, 6, this.sprite.count);
    }
    inst.bind(null);
    gl.bindBuffer(gl.ARRAY_BUFFER, null);
    this.drawnVersion = this.version;
    this.drawnAt = performance.now();
  }

  _upload(gl, p, f, per) {
    gl.bindBuffer(gl.ARRAY_BUFFER, p.buf);
    gl.bufferData(gl.ARRAY_BUFFER, f.a.subarray(0, f.n), gl.DYNAMIC_DRAW);
    p.count = f.n / per;
  }

  // --- reading back: what is drawn where (screen pixels) ----------------------------------------
  // what lies under a screen point: tracks drawn alone (by their symbol's frame), then aggregates
  hits(point) {
    if (!this.visible || !this.data) return [];
    const d = this.data;
    const pad = 32;
    const corners = [[point.x - pad, point.y - pad], [point.x + pad, point.y + pad]].map((p) => this.map.unproject(p));
    const lo = Math.min(corners[0].lng, corners[1].lng), hi = Math.max(corners[0].lng, corners[1].lng);
    const s = Math.min(corners[0].lat, corners[1].lat), n = Math.max(corners[0].lat, corners[1].lat);
    const out = [];
    for (let k = this.singles.length - 1; k >= 0; k--) { // the top one first
      const i = this.singles[k];
      if (d.lon[i] < lo || d.lon[i] > hi || d.lat[i] < s || d.lat[i] > n) continue;
      const p = this.map.project([d.lon[i], d.lat[i]]);
      const it = this.atlas.symbol(d.sidc[i]);
      const x = point.x - Math.round(p.x) + it.ax, y = point.y - Math.round(p.y) + it.ay;
      if (x >= 0 && y >= 0 && x <= it.w && y <= it.h) out.push(this._feature(i));
    }
    for (const c of this.clusters) {
      const lngLat = this._lngLat(c);
      const p = this.map.project(lngLat);
      if (Math.hypot(p.x - point.x, p.y - point.y) <= clusterRadius(c.count) + 1) {
        out.push({ layer: { id: "clusters" }, properties: { point_count: c.count, friend: c.friend, neutral: c.neutral, alert: c.alert },
                   geometry: { type: "Point", coordinates: lngLat }, cluster: c });
      }
    }
    return out;
  }

  _feature(i) {
    const d = this.data;
    return { layer: { id: "tracks" }, properties: { key: d.keys[i], sidc: d.sidc[i] },
             geometry: { type: "Point", coordinates: [d.lon[i], d.lat[i]] } };
  }

  _lngLat(c) {
    const lon = c.mx * 360 - 180;
    const lat = (Math.atan(Math.sinh(Math.PI * (1 - 2 * c.my))) * 180) / Math.PI;
    return [lon, lat];
  }

  // the zoom at which an aggregate comes apart
  expansionZoom(c) {
    const d = this.data;
    for (let z = Math.floor(this.map.getZoom()) + 1; z <= CLUSTER_MAX_ZOOM; z++) {
      const r = aggregate(d.mx, d.my, d.n, z, d.alert, d.aff, c.members);
      if (r.clusters.length !== 1 || r.singles.length) return z;
    }
    return CLUSTER_MAX_ZOOM + 1;
  }

  // everything drawn inside the view: tracks alone (key, symbol code, screen point), aggregates
  // (count, screen point), and how many leaders and trails
  drawn() {
    const none = { tracks: [], clusters: [], leaders: 0, trails: 0, version: this.drawnVersion };
    if (!this.visible || !this.data) return none;
    const d = this.data;
    const canvas = this.map.getCanvas();
    const W = canvas.clientWidth, H = canvas.clientHeight;
    const inside = (p) => p.x >= 0 && p.y >= 0 && p.x <= W && p.y <= H;
    const tracks = [];
    for (const i of this.singles) {
      const p = this.map.project([d.lon[i], d.lat[i]]);
      if (inside(p)) tracks.push({ key: d.keys[i], sidc: d.sidc[i], x: p.x, y: p.y });
    }
    const clusters = [];
    for (const c of this.clusters) {
      const p = this.map.project(this._lngLat(c));
      if (inside(p)) clusters.push({ count: c.count, friend: c.friend, neutral: c.neutral, alert: c.alert, x: p.x, y: p.y });
    }
    return { tracks, clusters, leaders: this.counts.leaders, trails: this.counts.trails, version: this.drawnVersion };
  }
}
