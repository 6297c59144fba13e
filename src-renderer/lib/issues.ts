/**
 * issues.ts: turns validation failures into per-field messages for the forms. Sources: zod issues
 * from the client-side parse of the contract's schema, and the server's message, which names each
 * field ("runs.start: spec.model.hiddenSize: 100 is not a multiple of ...; spec.lr: ..."). Pure.
 */

/** A zod-like issue (path + message). */
export interface FieldIssue {
  path: readonly PropertyKey[];
  message: string;
}

/** Field path ("model.hiddenSize") -> first message, with `strip` removed from the front of paths. */
export function issuesByField(issues: readonly FieldIssue[], strip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of issues) {
    let path = i.path.map(String);
    if (strip.length && strip.every((s, k) => path[k] === s)) path = path.slice(strip.length);
    const key = path.join('.') || '(form)';
    if (!(key in out)) out[key] = i.message;
  }
  return out;
}

/**
 * The server's "op: a.b: msg; c: msg" message as field -> message. `prefix` ("spec.") is removed
 * from field names; parts that name no field go under '(form)'.
 */
export function parseServerMessage(message: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const body = message.replace(/^[a-z]+\.[A-Za-z]+: /, '');
  for (const part of body.split('; ')) {
    const m = /^([A-Za-z_][\w]*(?:\.[\w-]+)*): (.+)$/s.exec(part);
    if (m && (prefix === '' || m[1]!.startsWith(prefix))) {
      const field = m[1]!.slice(prefix.length);
      if (!(field in out)) out[field] = m[2]!;
    } else {
      out['(form)'] = out['(form)'] ? `${out['(form)']}; ${part}` : part;
    }
  }
  return out;
}
