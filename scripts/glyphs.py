"""Make the map's text glyphs: signed distance fields of DejaVu Sans, in MapLibre's PBF ranges.

    .venv/bin/python scripts/glyphs.py [--font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]

MapLibre GL draws every label (place names, track amplifiers, measurements) from glyph ranges
(``{fontstack}/{start}-{end}.pbf``, 256 code points each) and places them without overlap
itself. This renders each glyph the font has, in the ranges the map's text can use (Latin,
Cyrillic, punctuation, arrows, symbols), with the same SDF generator MapLibre uses when it draws
glyphs locally (npm ``@mapbox/tiny-sdf@2.3.0``, run in headless Chromium on the font file itself,
so no installed font can stand in), and writes the ranges into
``src/deconfliction/ui/static/glyphs/<fontstack>/``. Needs npm, Chromium and playwright (the dev
extra). The font: DejaVu (Debian's ``fonts-dejavu-core``; Bitstream Vera licence, shipped as
``glyphs/LICENSE-DejaVu.txt``).
"""

from __future__ import annotations

import argparse
import base64
import struct
import subprocess
import tarfile
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "deconfliction" / "ui" / "static" / "glyphs"
FONTS = {"DejaVuSans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"}
LICENCE = "/usr/share/doc/fonts-dejavu-core/copyright"
#: what the map's own text uses (to keep the files small, not every glyph of the font): ASCII
#: and Latin-1, the Russian alphabet, the punctuation, arrows and symbols of labels and
#: measurements; and every character of a place name (``basemap/places.json``)
BASE = (
    set(range(0x20, 0x7F))
    | set(range(0xA0, 0x100))
    | set(range(0x400, 0x460))
    | {ord(c) for c in "–—‘’“”„…′″•·×→←↑↓↗↘↙↖°±≈≤≥№⚠"}
)
PLACES = OUT.parent / "basemap" / "places.json"
TINY_SDF = "@mapbox/tiny-sdf@2.3.0"


def cmap(ttf: bytes) -> set[int]:
    """The BMP code points a TrueType font maps to a glyph (format 4 subtable)."""
    n = struct.unpack(">H", ttf[4:6])[0]
    for i in range(n):
        tag, _, off, _ = struct.unpack(">4sIII", ttf[12 + 16 * i : 28 + 16 * i])
        if tag == b"cmap":
            break
    else:
        raise ValueError("no cmap table")
    nsub = struct.unpack(">H", ttf[off + 2 : off + 4])[0]
    for j in range(nsub):
        pid, eid, sub = struct.unpack(">HHI", ttf[off + 4 + 8 * j : off + 12 + 8 * j])
        base = off + sub
        if (pid, eid) in ((3, 1), (0, 3)) and struct.unpack(">H", ttf[base : base + 2])[0] == 4:
            seg2 = struct.unpack(">H", ttf[base + 6 : base + 8])[0]
            ends = struct.unpack(f">{seg2 // 2}H", ttf[base + 14 : base + 14 + seg2])
            p = base + 16 + seg2
            starts = struct.unpack(f">{seg2 // 2}H", ttf[p : p + seg2])
            out: set[int] = set()
            for s, e in zip(starts, ends, strict=True):
                if s != 0xFFFF:
                    out.update(range(s, e + 1))
            return out
    raise ValueError("no format 4 cmap")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, wire: int, payload: bytes | int) -> bytes:
    key = _varint(num << 3 | wire)
    if wire == 0:
        assert isinstance(payload, int)
        return key + _varint(payload)
    assert isinstance(payload, bytes)
    return key + _varint(len(payload)) + payload


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def encode_range(stack: str, start: int, glyphs: list[dict[str, int | str]]) -> bytes:
    """``glyphs.proto``: glyphs { stacks: fontstack { name, range, glyphs: glyph } }."""
    body = _field(1, 2, stack.encode()) + _field(2, 2, f"{start}-{start + 255}".encode())
    for g in glyphs:
        one = (
            _field(1, 0, int(g["id"]))
            + (_field(2, 2, base64.b64decode(str(g["bitmap"]))) if g["bitmap"] else b"")
            + _field(3, 0, int(g["width"]))
            + _field(4, 0, int(g["height"]))
            + _field(5, 0, _zigzag(int(g["left"])))
            + _field(6, 0, _zigzag(int(g["top"])))
            + _field(7, 0, int(g["advance"]))
        )
        body += _field(3, 2, one)
    return _field(1, 2, body)


#: runs in the page: TinySDF (the npm package's class) on the font loaded from its bytes
RENDER = """async ([src, fontB64, weight, codes]) => {
  const TinySDF = (new Function(src.replace('export default class', 'return class')))();
  const bytes = Uint8Array.from(atob(fontB64), (c) => c.charCodeAt(0));
  const face = new FontFace('GlyphSource', bytes.buffer, {weight});
  await face.load();
  document.fonts.add(face);
  const sdf = new TinySDF({fontSize: 24, buffer: 3, radius: 8, cutoff: 0.25,
                           fontFamily: 'GlyphSource', fontWeight: weight});
  const out = [];
  for (const id of codes) {
    const g = sdf.draw(String.fromCodePoint(id));
    let bin = '';
    for (const v of g.data) bin += String.fromCharCode(v);
    const empty = g.glyphWidth === 0 || g.glyphHeight === 0;
    // metrics as MapLibre derives them for the glyphs it draws itself (glyph_manager)
    out.push({id, bitmap: empty ? '' : btoa(bin),
              width: empty ? 0 : g.glyphWidth, height: empty ? 0 : g.glyphHeight,
              left: Math.round(g.glyphLeft + 0.5), top: Math.round(g.glyphTop - 27.5),
              advance: Math.round(g.glyphAdvance)});
  }
  return out;
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", TINY_SDF], cwd=tmp, check=True, capture_output=True)
        with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
            src = tar.extractfile("package/index.js")
            assert src is not None
            tiny_sdf = src.read().decode()
    out: Path = args.out
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content("<!doctype html><title>glyphs</title>")
        for stack, path in FONTS.items():
            ttf = Path(path).read_bytes()
            have = cmap(ttf)
            weight = "bold" if "Bold" in stack else "normal"
            folder = out / stack
            folder.mkdir(parents=True, exist_ok=True)
            wanted = BASE | {ord(c) for c in PLACES.read_text(encoding="utf-8")}
            for start in sorted({c // 256 * 256 for c in wanted & have}):
                codes = sorted(c for c in wanted & have if start <= c < start + 256)
                glyphs = page.evaluate(
                    RENDER, [tiny_sdf, base64.b64encode(ttf).decode(), weight, codes]
                )
                (folder / f"{start}-{start + 255}.pbf").write_bytes(
                    encode_range(stack, start, glyphs)
                )
        browser.close()
    (out / "LICENSE-DejaVu.txt").write_text(Path(LICENCE).read_text())
    total = sum(f.stat().st_size for f in out.rglob("*.pbf"))
    print(f"{out}: {len(list(out.rglob('*.pbf')))} ranges, {total // 1024} KB")


if __name__ == "__main__":
    main()
