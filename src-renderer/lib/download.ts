/**
 * download.ts: saving what the user exports (CSV tables, PNG charts) as a file download. Works in
 * the browser and in Electron (which turns an <a download> click into a save).
 */
import { fileSlug } from './csv.js';

export function downloadText(filename: string, text: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  clickLink(url, filename);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function downloadDataUrl(filename: string, dataUrl: string): void {
  clickLink(dataUrl, filename);
}

/** A chart canvas as PNG, on an opaque background (a transparent PNG is unreadable in dark viewers). */
export function downloadCanvasPng(canvas: HTMLCanvasElement, label: string): void {
  const copy = document.createElement('canvas');
  copy.width = canvas.width;
  copy.height = canvas.height;
  const ctx = copy.getContext('2d');
  if (!ctx) return;
  ctx.fillStyle = getComputedStyle(document.body).backgroundColor || '#fff';
  ctx.fillRect(0, 0, copy.width, copy.height);
  ctx.drawImage(canvas, 0, 0);
  downloadDataUrl(`${fileSlug(label)}.png`, copy.toDataURL('image/png'));
}

function clickLink(href: string, filename: string): void {
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}
