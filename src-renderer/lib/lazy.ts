/**
 * lazy.ts: a loader of a module that is fetched on first use and then kept: the pages that are
 * not the first screen (App.svelte) come as their own chunks through dynamic import(), so the
 * first bundle holds the shell and the Runs page only, and Chart.js and the zod schemas arrive
 * with the pages that use them. A failed fetch is forgotten, so the next visit tries again (a
 * dropped connection, a server restarted mid-session). Pure (no DOM), unit-tested.
 */

/** `load`'s default export, fetched once; concurrent callers share the one fetch. */
export function lazy<T>(load: () => Promise<{ default: T }>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().then(
      (m) => m.default,
      (e: unknown) => {
        pending = undefined;
        throw e;
      },
    );
    return pending;
  };
}
