// The plugin's JSON routes, resolved relative to this module so the tab works
// under any --path_prefix (the module lives at .../plugin/kerasnotes/static/).

const BASE = new URL("../", import.meta.url);

export class RouteError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJson(route, params = {}) {
  const url = new URL(route, BASE);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  let body;
  try {
    body = await response.json();
  } catch {
    // A proxy's HTML error page or an empty answer: say so rather than "Unexpected token <".
    throw new RouteError(
      response.status,
      `${route}: the server answered ${response.status} without JSON`,
    );
  }
  if (!response.ok)
    throw new RouteError(
      response.status,
      body && body.error ? body.error : `${route}: ${response.status}`,
    );
  return body;
}

// Kinds of critical point (kerasnotes.summary.KIND_CODES) and how they are drawn.
export const KINDS = {
  saddle: { label: "saddle", color: "#e8590c" },
  local_minimum: { label: "local minimum", color: "#2f9e44" },
  local_maximum: { label: "local maximum", color: "#9c36b5" },
  flat: { label: "flat (higher order)", color: "#1c7ed6" },
  not_critical: { label: "not critical", color: "#868e96" },
  error: { label: "probe failed", color: "#c92a2a" },
};

// Ten distinguishable line colours for per-variable series.
export const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
