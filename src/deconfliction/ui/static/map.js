// A small Web Mercator map on a <canvas>: pan, zoom, layers of shapes, hit testing.
// No tiles and no network: the basemap is Natural Earth land and borders shipped with the
// service. The world is drawn as many times as the view needs, side by side, so shapes near
// the antimeridian show whole whichever way one pans.

const R = 6378137;
const MAX_LAT = 85.05112878;

export function project(lon, lat) {
  const y = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat));
  return [
    (lon + 180) / 360,
    (1 - Math.log(Math.tan(Math.PI / 4 + (y * Math.PI) / 360)) / Math.PI) / 2,
  ];
}

export function unproject(x, y) {
  const lon = x * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - 2 * y))) * 180) / Math.PI;
  return [lon, lat];
}

// points of a geodesic circle (spherical approximation, for drawing)
export function circlePoints(lon, lat, radiusM, n = 64) {
  const d = radiusM / R;
  const la = (lat * Math.PI) / 180;
  const lo = (lon * Math.PI) / 180;
  const pts = [];
  for (let i = 0; i <= n; i++) {
    const b = (2 * Math.PI * i) / n;
    const la2 = Math.asin(Math.sin(la) * Math.cos(d) + Math.cos(la) * Math.sin(d) * Math.cos(b));
    const lo2 = lo + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(la),
                                Math.cos(d) - Math.sin(la) * Math.sin(la2));
    pts.push([(lo2 * 180) / Math.PI, (la2 * 180) / Math.PI]);
  }
  return unwrap(pts);
}

// make each step take the short way across the antimeridian
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

export class MapView {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.center = [0.5, 0.5]; // mercator units
    this.zoom = 2; // world width in CSS pixels = 256 * 2^zoom
    this.layers = [];
    this.basemap = null;
    this.onclick = null;
    this.onhover = null;
    this.drawing = null; // {points: [[lon, lat]], onchange}
    this._drag = null;
    this._bind();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  get scale() {
    return 256 * 2 ** this.zoom;
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.width = r.width;
    this.height = r.height;
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.render();
  }

  toScreen(mx, my) {
    return [(mx - this.center[0]) * this.scale + this.width / 2,
            (my - this.center[1]) * this.scale + this.height / 2];
  }

  toLonLat(sx, sy) {
    const mx = this.center[0] + (sx - this.width / 2) / this.scale;
    const my = this.center[1] + (sy - this.height / 2) / this.scale;
    const [lon, lat] = unproject(mx, my);
    return [((((lon + 180) % 360) + 360) % 360) - 180, lat];
  }

  fit(lonMin, latMin, lonMax, latMax, pad = 40) {
    const [x0, y1] = project(lonMin, latMin);
    const [x1, y0] = project(lonMax, latMax);
    const w = Math.max(x1 - x0, 1e-6);
    const h = Math.max(y1 - y0, 1e-6);
    const z = Math.log2(Math.min((this.width - 2 * pad) / (w * 256), (this.height - 2 * pad) / (h * 256)));
    this.zoom = Math.max(1, Math.min(14, z));
    this.center = [(x0 + x1) / 2, (y0 + y1) / 2];
    this.render();
  }

  setLayers(layers) {
    this.layers = layers;
    this.render();
  }

  // the x offsets (in world widths) at which the world must be drawn to fill the view
  _copies() {
    const half = this.width / 2 / this.scale;
    const from = Math.floor(this.center[0] - half - 0.5);
    const to = Math.ceil(this.center[0] + half + 0.5);
    const out = [];
    for (let k = from; k <= to; k++) out.push(k);
    return out;
  }

  _path(ctx, ring, k) {
    let first = true;
    for (const [lon, lat] of ring) {
      const [mx, my] = project(lon, lat);
      const [sx, sy] = this.toScreen(mx + k, my);
      if (first) { ctx.moveTo(sx, sy); first = false; } else ctx.lineTo(sx, sy);
    }
  }

  render() {
    const ctx = this.ctx;
    if (!ctx || !this.width) return;
    ctx.fillStyle = "#cfe0ee";
    ctx.fillRect(0, 0, this.width, this.height);
    const copies = this._copies();
    if (this.basemap) {
      ctx.fillStyle = "#f1efe7";
      ctx.strokeStyle = "#b9b4a5";
      ctx.lineWidth = 0.6;
      for (const k of copies) {
        ctx.beginPath();
        for (const ring of this.basemap.land) this._path(ctx, ring, k);
        ctx.fill("evenodd");
        ctx.stroke();
        ctx.beginPath();
        ctx.setLineDash([3, 3]);
        for (const line of this.basemap.borders) this._path(ctx, line, k);
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }
    this._graticule(ctx);
    for (const layer of this.layers) {
      for (const f of layer.features) this._drawFeature(ctx, f, copies);
    }
    if (this.drawing) this._drawDrawing(ctx, copies);
  }

  _graticule(ctx) {
    const step = this.zoom > 6 ? 1 : this.zoom > 4 ? 5 : 10;
    ctx.strokeStyle = "rgba(60, 80, 100, 0.15)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    const left = this.center[0] - this.width / 2 / this.scale;
    const right = this.center[0] + this.width / 2 / this.scale;
    for (let lon = Math.floor((left * 360 - 180) / step) * step; lon <= right * 360 - 180; lon += step) {
      const sx = this.toScreen((lon + 180) / 360, 0)[0];
      ctx.moveTo(sx, 0);
      ctx.lineTo(sx, this.height);
    }
    const [, latBottom] = this.toLonLat(0, this.height);
    const [, latTop] = this.toLonLat(0, 0);
    for (let lat = Math.floor(latBottom / step) * step; lat <= latTop; lat += step) {
      const sy = this.toScreen(0, project(0, lat)[1])[1];
      ctx.moveTo(0, sy);
      ctx.lineTo(this.width, sy);
    }
    ctx.stroke();
  }

  _drawFeature(ctx, f, copies) {
    ctx.save();
    ctx.globalAlpha = f.alpha ?? 1;
    if (f.type === "area") {
      for (const k of copies) {
        ctx.beginPath();
        for (const ring of f.rings) this._path(ctx, ring, k);
        ctx.closePath();
        if (f.fill) { ctx.fillStyle = f.fill; ctx.fill(); }
        ctx.strokeStyle = f.stroke || "#333";
        ctx.lineWidth = f.width || 1.5;
        ctx.setLineDash(f.dash || []);
        ctx.stroke();
      }
    } else if (f.type === "track") {
      for (const k of copies) {
        const [mx, my] = project(f.lon, f.lat);
        const [sx, sy] = this.toScreen(mx + k, my);
        if (sx < -50 || sy < -50 || sx > this.width + 50 || sy > this.height + 50) continue;
        if (f.vector) {
          const [vx, vy] = project(f.vector[0], f.vector[1]);
          const [ex, ey] = this.toScreen(vx + k, vy);
          ctx.strokeStyle = f.color;
          ctx.lineWidth = 1.5;
          ctx.beginPath(); ctx.moveTo(sx, sy); ctx.lineTo(ex, ey); ctx.stroke();
        }
        const a = ((f.heading || 0) * Math.PI) / 180;
        ctx.save();
        ctx.translate(sx, sy);
        ctx.rotate(a);
        ctx.beginPath();
        if (f.cls === "ship") {
          ctx.rect(-4, -7, 8, 14);
        } else {
          ctx.moveTo(0, -8); ctx.lineTo(5, 6); ctx.lineTo(0, 3); ctx.lineTo(-5, 6); ctx.closePath();
        }
        ctx.fillStyle = f.color;
        ctx.fill();
        ctx.strokeStyle = f.alert ? "#d7191c" : "#222";
        ctx.lineWidth = f.alert ? 2.5 : 0.8;
        ctx.stroke();
        ctx.restore();
        if (f.label) {
          ctx.font = "11px system-ui, sans-serif";
          ctx.fillStyle = "#111";
          ctx.fillText(f.label, sx + 9, sy - 6);
        }
      }
    }
    ctx.restore();
  }

  _drawDrawing(ctx, copies) {
    const pts = this.drawing.points;
    if (!pts.length) return;
    for (const k of copies) {
      ctx.beginPath();
      this._path(ctx, unwrap(pts), k);
      ctx.strokeStyle = "#7b3294";
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.stroke();
      ctx.setLineDash([]);
      for (const [lon, lat] of pts) {
        const [mx, my] = project(lon, lat);
        const [sx, sy] = this.toScreen(mx + k, my);
        ctx.fillStyle = "#7b3294";
        ctx.fillRect(sx - 3, sy - 3, 6, 6);
      }
    }
  }

  // the features under a screen point, topmost first
  hit(sx, sy) {
    const out = [];
    const copies = this._copies();
    for (let li = this.layers.length - 1; li >= 0; li--) {
      const layer = this.layers[li];
      for (let fi = layer.features.length - 1; fi >= 0; fi--) {
        const f = layer.features[fi];
        if (!f.info) continue;
        for (const k of copies) {
          if (f.type === "track") {
            const [mx, my] = project(f.lon, f.lat);
            const [tx, ty] = this.toScreen(mx + k, my);
            if (Math.hypot(tx - sx, ty - sy) < 10) { out.push(f); break; }
          } else {
            const path = new Path2D();
            for (const ring of f.rings) {
              let first = true;
              for (const [lon, lat] of ring) {
                const [mx, my] = project(lon, lat);
                const [px, py] = this.toScreen(mx + k, my);
                if (first) { path.moveTo(px, py); first = false; } else path.lineTo(px, py);
              }
              path.closePath();
            }
            if (this.ctx.isPointInPath(path, sx * (window.devicePixelRatio || 1), sy * (window.devicePixelRatio || 1))) {
              out.push(f);
              break;
            }
          }
        }
      }
    }
    return out;
  }

  _bind() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      this._drag = { x: e.offsetX, y: e.offsetY, cx: this.center[0], cy: this.center[1], moved: false };
    });
    c.addEventListener("pointermove", (e) => {
      if (this._drag) {
        const dx = e.offsetX - this._drag.x;
        const dy = e.offsetY - this._drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) this._drag.moved = true;
        if (this._drag.moved) {
          this.center = [this._drag.cx - dx / this.scale, Math.max(0, Math.min(1, this._drag.cy - dy / this.scale))];
          this.render();
        }
      } else if (this.onhover) {
        this.onhover(this.hit(e.offsetX, e.offsetY), e);
      }
    });
    c.addEventListener("pointerup", (e) => {
      const d = this._drag;
      this._drag = null;
      if (d && !d.moved) {
        const lonlat = this.toLonLat(e.offsetX, e.offsetY);
        if (this.drawing) {
          this.drawing.points.push(lonlat);
          this.drawing.onchange?.();
          this.render();
        } else if (this.onclick) {
          this.onclick(this.hit(e.offsetX, e.offsetY), lonlat, e);
        }
      }
    });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomAt(e.offsetX, e.offsetY, e.deltaY < 0 ? 0.5 : -0.5);
    }, { passive: false });
    c.addEventListener("keydown", (e) => {
      const step = 60 / this.scale;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (moves[e.key]) {
        this.center = [this.center[0] + moves[e.key][0], this.center[1] + moves[e.key][1]];
        this.render();
        e.preventDefault();
      } else if (e.key === "+" || e.key === "=") { this.zoomAt(this.width / 2, this.height / 2, 1); }
      else if (e.key === "-") { this.zoomAt(this.width / 2, this.height / 2, -1); }
    });
  }

  zoomAt(sx, sy, dz) {
    const before = [this.center[0] + (sx - this.width / 2) / this.scale, this.center[1] + (sy - this.height / 2) / this.scale];
    this.zoom = Math.max(1, Math.min(16, this.zoom + dz));
    this.center = [before[0] - (sx - this.width / 2) / this.scale, before[1] - (sy - this.height / 2) / this.scale];
    this.render();
  }
}
