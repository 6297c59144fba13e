/**
 * engine/index.ts: the typed wrapper over the native addon (build/Release/lshlab.node).
 *
 * The addon is loaded on first use, not at import, so commands that never touch the engine (help,
 * argument errors) work without it. A missing addon gives one clear message: run npm install.
 */
import * as fs from 'node:fs';
import type { NativeAddon } from './types.js';
import { addonPath } from './paths.js';

export * from './types.js';
export { packageRoot, packageVersion, nativeDir, addonPath, nativeDriverPath } from './paths.js';

export class AddonMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddonMissingError';
  }
}

let cached: NativeAddon | undefined;

/** Loads (once) and returns the native addon. Throws AddonMissingError if it is not built. */
export function loadEngine(): NativeAddon {
  if (cached) return cached;
  const file = addonPath();
  if (!fs.existsSync(file)) {
    throw new AddonMissingError(`native addon not built: run npm install (looked for ${file})`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(file) as NativeAddon;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new AddonMissingError(
      `native addon at ${file} failed to load: ${msg}; rebuild it with npm run build:native`,
    );
  }
  return cached;
}

/** Default BERT-tiny configuration, camelCase (mirrors native/engine/model/bert_config.h). */
export const BERT_TINY = Object.freeze({
  vocabSize: 30522,
  hiddenSize: 128,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 512,
  maxPositionEmbeddings: 512,
  typeVocabSize: 2,
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
  layerNormEps: 1e-12,
  initializerRange: 0.02,
  numLabels: 2,
  task: 'mlm',
  attention: 'exact',
  attentionParams: {},
} as const);
