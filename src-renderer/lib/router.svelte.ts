/**
 * router.svelte.ts: the hash router. Routes are `#/datasets`, `#/new`, `#/runs`, `#/runs/12`,
 * `#/compare?ids=1,2`, `#/benchmarks`, `#/explorer?run=12`, `#/studies`, `#/studies/NAME`; the hash keeps the page across reloads and works under the
 * Electron custom protocol, where there is no server to answer deep paths.
 */

export interface Route {
  /** First path segment: 'datasets', 'new', 'runs', 'compare', 'benchmarks'. */
  page: string;
  /** Further segments (e.g. the run id). */
  params: string[];
  query: URLSearchParams;
}

function parse(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [path = '', qs = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? 'runs', params: parts.slice(1), query: new URLSearchParams(qs) };
}

export const route = $state<{ current: Route }>({ current: parse(location.hash) });

window.addEventListener('hashchange', () => {
  route.current = parse(location.hash);
});

/** Navigates to `#/<path>`. */
export function go(path: string): void {
  location.hash = `#/${path.replace(/^[#/]+/, '')}`;
}
