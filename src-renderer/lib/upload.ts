/**
 * upload.ts: sends a local file to `lshlab serve` (POST /api/upload?name=...) with progress and
 * cancel, for importing a dataset from the browser. XMLHttpRequest rather than fetch because only
 * XHR reports upload progress. The server answers the usual envelope; its result says where the
 * file now lies on the serving machine, which the import operation then takes as a path.
 */
import { ApiError } from './api.js';

export interface UploadHandle {
  /** Resolves with the server's result (e.g. {path}); rejects with ApiError ('cancelled' on cancel). */
  done: Promise<unknown>;
  cancel(): void;
}

export function uploadFile(file: File, onProgress: (fraction: number, loaded: number, total: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<unknown>((resolve, reject) => {
    xhr.open('POST', `api/upload?name=${encodeURIComponent(file.name)}`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total, e.loaded, e.total);
    };
    xhr.onload = () => {
      let body: { ok?: boolean; result?: unknown; error?: { code?: string; message?: string } } | null = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* handled below */
      }
      if (body?.ok === true) resolve(body.result);
      else reject(new ApiError(body?.error?.code ?? `http_${xhr.status}`, body?.error?.message ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new ApiError('network', 'the upload could not reach the server'));
    xhr.onabort = () => reject(new ApiError('cancelled', 'upload cancelled'));
    xhr.send(file);
  });
  return { done, cancel: () => xhr.abort() };
}
