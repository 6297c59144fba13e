/**
 * encode-worker.ts: the body of one tokenizer worker thread of encode-pool.ts. It loads its own
 * tokenizer from the files named in workerData.tokenizerPath (vocab.txt / tokenizer.json / a
 * folder: data/tokenizer/load.ts), then answers each {id, texts} message with the chunk's
 * encodings flattened (ids, offsets, lengths; buffers transferred, not copied) or {id, error}.
 * It does nothing else.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTokenizer } from '../tokenizer/load';
import { flattenEncodings } from './chunk-encoding';

const port = parentPort;
if (!port) throw new Error('encode-worker.ts runs only as a worker thread');
let tok: ReturnType<typeof loadTokenizer> | undefined;
let loadError: string | undefined;
try {
  tok = loadTokenizer((workerData as { tokenizerPath: string }).tokenizerPath);
} catch (err) {
  loadError = (err as Error).message;
}
port.on('message', (msg: { id: number; texts: string[] }) => {
  if (!tok) { port.postMessage({ id: msg.id, error: loadError ?? 'tokenizer not loaded' }); return; }
  tok.encodeBatch(msg.texts).then(
    (encs) => {
      const f = flattenEncodings(encs);
      port.postMessage({ id: msg.id, ids: f.ids, offsets: f.offsets, lengths: f.lengths }, [f.ids.buffer as ArrayBuffer, f.offsets.buffer as ArrayBuffer, f.lengths.buffer as ArrayBuffer]);
    },
    (err: unknown) => port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
