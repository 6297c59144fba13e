#!/usr/bin/env node
// make-icon.mjs: renders icon.svg's design to icon.png (512x512 RGBA) with no image tools: the
// geometry is the SVG's (rounded squares), drawn with 4x4 supersampling and written as a PNG by
// hand (zlib + CRC-32). Run it after changing the design: `node resources/make-icon.mjs`.
// electron-builder makes the .ico / .icns it needs from this PNG (>= 512 px).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const SIZE = 512;
const here = path.dirname(fileURLToPath(import.meta.url));
const hex = (h) => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];

// [x, y, w, h, radius, colour]: the same shapes, in the same order, as icon.svg.
const shapes = [[16, 16, 480, 480, 96, '#1f2a44']];
const cells = [104, 184, 264, 344];
for (const y of cells) for (const x of cells) shapes.push([x, y, 64, 64, 10, '#2f3d5e']);
const lit = [[104, 104], [264, 104], [184, 184], [344, 184], [104, 264], [264, 264], [184, 344], [344, 344]];
for (const [x, y] of lit) shapes.push([x, y, 64, 64, 10, '#f5a623']);

function inside([x, y, w, h, r], px, py) {
  if (px < x || py < y || px > x + w || py > y + h) return false;
  const cx = Math.min(Math.max(px, x + r), x + w - r);
  const cy = Math.min(Math.max(py, y + r), y + h - r);
  return (px - cx) ** 2 + (py - cy) ** 2 <= r * r;
}

const S = 4; // samples per axis
const rgba = Buffer.alloc(SIZE * SIZE * 4);
for (let y = 0; y < SIZE; y++) {
  for (let x = 0; x < SIZE; x++) {
    let r = 0, g = 0, b = 0, a = 0;
    for (let sy = 0; sy < S; sy++) {
      for (let sx = 0; sx < S; sx++) {
        const px = x + (sx + 0.5) / S, py = y + (sy + 0.5) / S;
        let colour = null;
        for (const s of shapes) if (inside(s, px, py)) colour = s[5];
        if (colour) {
          const [cr, cg, cb] = hex(colour);
          r += cr; g += cg; b += cb; a += 1;
        }
      }
    }
    const o = (y * SIZE + x) * 4;
    // Colours are averaged over the covered samples only, alpha over all (straight alpha).
    rgba[o] = a ? Math.round(r / a) : 0;
    rgba[o + 1] = a ? Math.round(g / a) : 0;
    rgba[o + 2] = a ? Math.round(b / a) : 0;
    rgba[o + 3] = Math.round((255 * a) / (S * S));
  }
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr[8] = 8; // bit depth
ihdr[9] = 6; // RGBA
const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) rgba.copy(raw, y * (SIZE * 4 + 1) + 1, y * SIZE * 4, (y + 1) * SIZE * 4); // filter 0 per row
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
fs.writeFileSync(path.join(here, 'icon.png'), png);
process.stdout.write(`wrote ${path.join(here, 'icon.png')} (${png.length} bytes)\n`);
