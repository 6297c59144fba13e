/**
 * uploads.ts: files uploaded for import (serve mode), kept under `<dataDir>/uploads/<id>/<name>`
 * until datasets.import consumes them or they are cancelled. The HTTP server streams the request
 * body into the file this registry hands out and reports progress through it; `uploads.cancel`
 * aborts an upload in flight (the server destroys the request when the signal fires) or discards
 * a finished one. Every upload left over is removed on close; folders of processes that died
 * (a serve process killed mid-upload) are removed when the next registry starts.
 *
 * It does not parse HTTP (server/upload.ts does) or import anything (datasets.ts does).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiError, type LabEvent } from './contract.js';

export interface Upload {
  id: string;
  /** The file name as given (cleaned: no directories, odd characters replaced). */
  name: string;
  file: string;
  total: number | null;
  bytes: number;
  status: 'receiving' | 'done' | 'cancelled' | 'failed';
  /** Fires when the upload is cancelled: the receiver stops and the file is removed. */
  readonly abort: AbortController;
}

/** A file name safe to create: the base name only, [A-Za-z0-9._-], not starting with '.'. */
export function cleanUploadName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 128);
  return clean === '' ? 'upload' : clean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes upload folders of processes that no longer run (a serve process killed mid-upload). */
function removeDeadUploadDirs(all: string): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(all);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(/^(\d+)-/.exec(n)?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) fs.rmSync(path.join(all, n), { recursive: true, force: true });
  }
}

export class UploadRegistry {
  private readonly uploads = new Map<string, Upload>();
  readonly root: string;

  constructor(dataDir: string, private readonly emit: (e: LabEvent) => void) {
    const all = path.join(dataDir, 'uploads');
    removeDeadUploadDirs(all);
    // One folder per API instance: the app and a serve process may share a lab.
    this.root = path.join(all, `${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  }

  begin(name: string, total: number | null): Upload {
    const id = crypto.randomBytes(16).toString('hex');
    const dir = path.join(this.root, id);
    fs.mkdirSync(dir, { recursive: true });
    const u: Upload = { id, name: cleanUploadName(name), file: '', total, bytes: 0, status: 'receiving', abort: new AbortController() };
    u.file = path.join(dir, u.name);
    this.uploads.set(id, u);
    this.emit({ type: 'upload.progress', uploadId: id, name: u.name, bytes: 0, total });
    return u;
  }

  progress(u: Upload, bytes: number): void {
    u.bytes = bytes;
    this.emit({ type: 'upload.progress', uploadId: u.id, name: u.name, bytes, total: u.total });
  }

  /** The receiver ends an upload: done (kept for import) or failed/cancelled (removed). */
  end(u: Upload, status: 'done' | 'cancelled' | 'failed', error: string | null = null): void {
    if (u.status !== 'receiving') return;
    u.status = status;
    if (status !== 'done') this.remove(u);
    this.emit({ type: 'upload.end', uploadId: u.id, name: u.name, status, bytes: u.bytes, error });
  }

  /** uploads.cancel: stops one in flight, or discards a finished one. False if there is none. */
  cancel(id: string): boolean {
    const u = this.uploads.get(id);
    if (!u) return false;
    if (u.status === 'receiving') {
      u.abort.abort();
      this.end(u, 'cancelled');
    } else this.remove(u);
    return true;
  }

  /** A finished upload's file, for datasets.import. */
  take(id: string): Upload {
    const u = this.uploads.get(id);
    if (!u) throw new ApiError('not-found', `no upload '${id}' (it was cancelled, already imported, or the server restarted)`);
    if (u.status !== 'done') throw new ApiError('conflict', `upload '${id}' (${u.name}) is not complete (${u.status})`);
    return u;
  }

  /** Removes an upload's file and forgets it (after its import, successful or not). */
  remove(u: Upload): void {
    this.uploads.delete(u.id);
    fs.rmSync(path.dirname(u.file), { recursive: true, force: true });
  }

  close(): void {
    for (const u of [...this.uploads.values()]) {
      if (u.status === 'receiving') u.abort.abort();
      this.remove(u);
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
