// Landscape view: the loss on a plane through the weights (LandscapeLogger, notes
// F16) as a heat map with contour lines, the training path projected on the plane
// and the current point (the plane's centre); beside it, the 1-D slice along each
// direction with its second-order model drawn from the measured numbers:
//   L(θ) + s·‖d‖·t + ½·c·‖d‖²·t²,  c = λ (the eigenvalue) where logged, else dᵀHd/‖d‖²,
// which is ½λt² for a unit eigenvector at a critical point.

import { getJson } from "../api.js";
import { axisLabels, legend, lineChart } from "../chart.js";
import { html, svg } from "../dom.js";
import { fmt, fmtSigned } from "../format.js";
import { card } from "../layout.js";

export const title = "Landscape";

const MARGIN = { top: 10, right: 12, bottom: 34, left: 46 };
const PATH_COLOR = "#f8f9fa";
const CURRENT_COLOR = "#e03131";
const CONTOURS = 8;
// A perceptual ramp (viridis at nine stops): low loss dark blue, high loss yellow.
const RAMP = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);

function rampColor(u) {
  const x = Math.min(1, Math.max(0, u)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

// Colour scale of the loss: logarithmic when it spans more than two decades
// (a saddle's plane often does), linear otherwise.
function lossScale(values) {
  const good = values.filter(finite);
  const lo = Math.min(...good);
  const hi = Math.max(...good);
  const log = lo > 0 && hi / lo > 100;
  const f = log ? Math.log10 : (v) => v;
  const a = f(lo);
  const b = f(hi) > a ? f(hi) : a + 1;
  return {
    log,
    lo,
    hi,
    map: (v) => (f(v) - a) / (b - a),
    inverse: (u) => (log ? 10 ** (a + u * (b - a)) : a + u * (b - a)),
  };
}

// Marching squares on the grid of values (cell corners = grid points):
// the segments of the level set {loss = level}, in grid coordinates (i, j).
function contourSegments(loss, level) {
  const segments = [];
  const n = loss.length;
  const m = loss[0].length;
  const cross = (i0, j0, i1, j1) => {
    const v0 = loss[i0][j0];
    const v1 = loss[i1][j1];
    const t = (level - v0) / (v1 - v0);
    return [i0 + t * (i1 - i0), j0 + t * (j1 - j0)];
  };
  for (let i = 0; i + 1 < n; i++) {
    for (let j = 0; j + 1 < m; j++) {
      const corners = [loss[i][j], loss[i + 1][j], loss[i + 1][j + 1], loss[i][j + 1]];
      if (!corners.every(finite)) continue;
      const edges = [
        [i, j, i + 1, j],
        [i + 1, j, i + 1, j + 1],
        [i, j + 1, i + 1, j + 1],
        [i, j, i, j + 1],
      ];
      const hits = [];
      for (const [i0, j0, i1, j1] of edges) {
        const above0 = loss[i0][j0] >= level;
        const above1 = loss[i1][j1] >= level;
        if (above0 !== above1) hits.push(cross(i0, j0, i1, j1));
      }
      if (hits.length === 2) segments.push(hits);
      else if (hits.length === 4) segments.push([hits[0], hits[1]], [hits[2], hits[3]]);
    }
  }
  return segments;
}

function heatMap(host, s) {
  host.replaceChildren();
  const size = Math.max(260, Math.min(host.clientWidth || 420, 520));
  const plot = size - MARGIN.left - MARGIN.right;
  const width = size;
  const height = plot + MARGIN.top + MARGIN.bottom;
  const n = s.a.length;
  const lo = s.a[0];
  const hi = s.a[n - 1];
  const X = (a) => MARGIN.left + ((a - lo) / (hi - lo)) * plot;
  const Y = (b) => MARGIN.top + (1 - (b - lo) / (hi - lo)) * plot;
  const root = svg("svg", {
    class: "kn-chart kn-heatmap",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "data-chart": "landscape-surface",
    "data-num": n,
    role: "img",
    "aria-label": "loss on the plane through the weights",
  });
  host.appendChild(root);
  const values = s.loss.flat();
  if (!values.some(finite)) {
    svg(
      "text",
      { x: width / 2, y: height / 2, class: "kn-empty", "text-anchor": "middle" },
      root,
    ).textContent = "the loss is not finite anywhere on this plane";
    return root;
  }
  const scale = lossScale(values);
  root.dataset.colorScale = scale.log ? "log" : "linear";
  // One cell per grid point, centred on it (the grid's step wide).
  const step = plot / (n - 1);
  const cells = svg("g", { class: "kn-cells" }, root);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = s.loss[i][j];
      const x0 = Math.max(MARGIN.left, X(s.a[i]) - step / 2);
      const x1 = Math.min(MARGIN.left + plot, X(s.a[i]) + step / 2);
      const y0 = Math.max(MARGIN.top, Y(s.b[j]) - step / 2);
      const y1 = Math.min(MARGIN.top + plot, Y(s.b[j]) + step / 2);
      const cell = svg(
        "rect",
        {
          class: "kn-cell",
          x: x0,
          y: y0,
          width: x1 - x0,
          height: y1 - y0,
          fill: finite(v) ? rampColor(scale.map(v)) : "#ced4da",
          "data-i": i,
          "data-j": j,
          "data-loss": finite(v) ? v : "",
        },
        cells,
      );
      svg("title", {}, cell).textContent =
        `a = ${fmtSigned(s.a[i])}, b = ${fmtSigned(s.b[j])}: L = ${fmt(v, 4)}`;
    }
  }
  // Contour lines at evenly spaced levels of the colour scale.
  const contours = svg("g", { class: "kn-contours" }, root);
  for (let k = 1; k < CONTOURS; k++) {
    const level = scale.inverse(k / CONTOURS);
    const d = contourSegments(s.loss, level)
      .map(([p, q]) => {
        const px = X(lo + (p[0] / (n - 1)) * (hi - lo));
        const py = Y(lo + (p[1] / (n - 1)) * (hi - lo));
        const qx = X(lo + (q[0] / (n - 1)) * (hi - lo));
        const qy = Y(lo + (q[1] / (n - 1)) * (hi - lo));
        return `M${px.toFixed(2)},${py.toFixed(2)}L${qx.toFixed(2)},${qy.toFixed(2)}`;
      })
      .join("");
    if (d)
      svg(
        "path",
        {
          d,
          class: "kn-contour",
          "data-level": level,
          stroke: "rgba(255,255,255,0.55)",
          fill: "none",
        },
        contours,
      );
  }
  // Axes: a along x (the first direction), b along y (the second).
  const axes = svg("g", { class: "kn-axes" }, root);
  svg(
    "rect",
    { x: MARGIN.left, y: MARGIN.top, width: plot, height: plot, class: "kn-frame" },
    axes,
  );
  for (const t of [lo, lo / 2, 0, hi / 2, hi]) {
    svg(
      "text",
      {
        x: X(t),
        y: MARGIN.top + plot + 15,
        "text-anchor": "middle",
        class: "kn-tick",
        "data-axis": "x",
      },
      axes,
    ).textContent = fmtSigned(t, 3);
    svg(
      "text",
      { x: MARGIN.left - 5, y: Y(t) + 4, "text-anchor": "end", class: "kn-tick", "data-axis": "y" },
      axes,
    ).textContent = fmtSigned(t, 3);
  }
  const names = axisNames(s);
  axisLabels(axes, {
    xLabel: `a, along ${names[0]}`,
    yLabel: `b, along ${names[1]}`,
    right: MARGIN.left + plot,
    bottom: height - 3,
    middle: MARGIN.top + plot / 2,
    left: 11,
  });
  // The path training took, projected on the plane, and the current point.
  const inside = (p) => finite(p.a) && finite(p.b);
  const path = s.trajectory.filter(inside);
  const track = svg(
    "g",
    {
      class: "kn-trajectory",
      "data-series": "trajectory",
      "data-points": JSON.stringify(path.map((p) => [p.epoch, p.a, p.b, p.off_plane])),
    },
    root,
  );
  if (path.length) {
    const clipId = "kn-clip-landscape";
    const defs = svg("defs", {}, root);
    svg(
      "rect",
      { x: MARGIN.left, y: MARGIN.top, width: plot, height: plot },
      svg("clipPath", { id: clipId }, defs),
    );
    track.setAttribute("clip-path", `url(#${clipId})`);
    svg(
      "polyline",
      {
        points: path.map((p) => `${X(p.a).toFixed(2)},${Y(p.b).toFixed(2)}`).join(" "),
        fill: "none",
        stroke: PATH_COLOR,
        "stroke-width": 1.6,
      },
      track,
    );
    for (const p of path) {
      const dot = svg(
        "circle",
        {
          cx: X(p.a),
          cy: Y(p.b),
          r: 3,
          fill: PATH_COLOR,
          stroke: "#212529",
          "stroke-width": 0.8,
          class: "kn-path-point",
          "data-epoch": p.epoch,
        },
        track,
      );
      svg("title", {}, dot).textContent =
        `${p.epoch === 0 ? "before training" : `after epoch ${p.epoch}`}: a = ${fmtSigned(p.a, 3)}, b = ${fmtSigned(p.b, 3)}, off the plane ${fmt(p.off_plane, 3)}`;
    }
  }
  colorBar(host, scale);
  const current = svg(
    "circle",
    {
      cx: X(0),
      cy: Y(0),
      r: 5.5,
      fill: CURRENT_COLOR,
      stroke: "#fff",
      "stroke-width": 1.5,
      "data-role": "current",
      "data-a": 0,
      "data-b": 0,
    },
    root,
  );
  svg("title", {}, current).textContent =
    `the weights at epoch ${s.epoch}: L = ${fmt(s.center_loss, 4)}`;
  return root;
}

// What the colours mean: the ramp from the lowest to the highest loss on the plane.
function colorBar(host, scale) {
  const stops = RAMP.map((_, k) => rampColor(k / (RAMP.length - 1))).join(", ");
  const bar = html("div", {
    class: "kn-colorbar",
    id: "kn-landscape-colorbar",
    "data-scale": scale.log ? "log" : "linear",
    "data-low": scale.lo,
    "data-high": scale.hi,
  });
  html("span", {}, bar, `L = ${fmt(scale.lo, 3)}`);
  html(
    "span",
    { class: "kn-colorbar-ramp", style: `background: linear-gradient(to right, ${stops})` },
    bar,
  );
  html("span", {}, bar, `${fmt(scale.hi, 3)}${scale.log ? " (log scale)" : ""}`);
  host.appendChild(bar);
}

function axisNames(s) {
  if (s.directions === "extreme") return ["u_min (λmin)", "u_max (λmax)"];
  return ["d₁", "d₂"];
}

// The curvature the quadratic model uses along direction k: the eigenvalue where
// logged (directions="extreme"), else the measured dᵀHd/‖d‖².
function modelCurvature(axis) {
  return finite(axis.eigenvalue) ? axis.eigenvalue : axis.curvature;
}

function sliceChart(host, s, k) {
  const n = s.a.length;
  const c = (n - 1) / 2; // the centre of the grid: the weights themselves
  const t = k === 0 ? s.a : s.b;
  const truth = t.map((_, i) => (k === 0 ? s.loss[i][c] : s.loss[c][i]));
  const axis = s.axes[k];
  const lam = modelCurvature(axis);
  const norm = finite(axis.norm) ? axis.norm : 1;
  const slope = finite(axis.slope) ? axis.slope : 0;
  const center = finite(s.center_loss) ? s.center_loss : truth[c];
  const model = t.map((v) =>
    finite(lam) ? center + slope * norm * v + 0.5 * lam * norm * norm * v * v : null,
  );
  const good = truth.filter(finite);
  const lo = Math.min(...good);
  const hi = Math.max(...good);
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  const label = finite(lam)
    ? `L(θ) + ${fmtSigned(slope * norm, 3)}·t + ½·${fmtSigned(lam * norm * norm, 4)}·t²`
    : "no curvature logged";
  lineChart(host, {
    id: `landscape-slice-${k}`,
    height: 220,
    xLabel: k === 0 ? `t along ${axisNames(s)[0]}` : `t along ${axisNames(s)[1]}`,
    yDomain: [lo - pad, hi + pad],
    series: [
      { name: "loss", label: "L(θ + t d)", color: "#343a40", steps: t, values: truth, dots: false },
      {
        name: "model",
        label,
        color: "#e8590c",
        steps: t,
        values: model,
        dots: false,
        dashed: true,
      },
    ],
    vlines: [{ x: 0, color: "#adb5bd", role: "center", dashed: false }],
  });
}

export async function show(host, { run, state }) {
  const cache = new Map();
  const load = async (step) => {
    const key = step === undefined ? "last" : step;
    if (!cache.has(key)) cache.set(key, await getJson("landscape", { run, step }));
    return cache.get(key);
  };
  let current = await load(state.landscapeStep);
  if (state.landscapeStep !== undefined && current.step !== state.landscapeStep)
    current = await load();
  host.replaceChildren();

  const head = html("div", { class: "kn-view-head kn-controls" }, host);
  const picker = html(
    "label",
    { class: "kn-slider-label", for: "kn-landscape-step" },
    head,
    "Epoch",
  );
  const select = html(
    "select",
    { id: "kn-landscape-step", "aria-label": "epoch of the landscape" },
    picker,
  );
  current.steps.forEach((s, i) => html("option", { value: s }, select, String(current.epochs[i])));
  select.disabled = current.steps.length < 2;
  const stats = html("div", { class: "kn-stats", id: "kn-landscape-stats" }, head);
  const key = html("div", { id: "kn-landscape-legend" }, head);

  const grid = html("div", { class: "kn-grid" }, host);
  const surfaceCard = card(
    grid,
    "Loss on the plane through the weights",
    "L(θ + a d₁ + b d₂) on the logged grid, contour lines at even steps of the colour scale; " +
      "the white path is the weights of each epoch projected on the plane, the red dot the weights logged.",
  );
  const slices = html("div", {}, grid);
  const sliceCards = [0, 1].map((k) =>
    card(slices, `Slice along direction ${k + 1}`, "", { "data-slice": k }),
  );

  const draw = () => {
    const s = current;
    select.value = String(s.step);
    stats.replaceChildren();
    const stat = (name, value, role, text) => {
      const item = html(
        "span",
        { class: "kn-stat", "data-role": role, "data-value": finite(value) ? value : "" },
        stats,
      );
      html("span", { class: "kn-stat-name" }, item, name);
      html("b", {}, item, text);
    };
    stat("L(θ)", s.center_loss, "center-loss", fmt(s.center_loss, 4));
    stat("directions", null, "directions", s.directions || "?");
    s.axes.forEach((axis, k) => {
      const name = s.directions === "extreme" ? (k === 0 ? "λmin" : "λmax") : `curvature d${k + 1}`;
      const value = modelCurvature(axis);
      stat(name, value, `curvature-${k}`, fmtSigned(value, 4));
    });
    const off = s.trajectory.map((p) => p.off_plane).filter(finite);
    if (off.length) {
      // Rounding leaves ~1e-17 where the path lies in the plane (two weights): say 0.
      const most = Math.max(...off);
      const steps = s.trajectory.map((p) => Math.hypot(p.a ?? 0, p.b ?? 0));
      const scale = Math.max(1e-300, ...steps);
      const text = most <= 1e-9 * scale ? "0 (in the plane)" : fmt(most, 3);
      stat("max distance off the plane", most, "off-plane", text);
    }
    key.replaceChildren();
    legend(key, [
      { key: "loss", label: "L along the slice", color: "#343a40" },
      { key: "model", label: "second-order model L(θ) + s·t + ½λt²", color: "#e8590c" },
      { key: "path", label: "training path (projected)", color: "#adb5bd", shape: "dot" },
      { key: "current", label: "logged weights", color: CURRENT_COLOR, shape: "dot" },
    ]);
    heatMap(surfaceCard.plot, s);
    s.axes.forEach((axis, k) => {
      const lam = modelCurvature(axis);
      sliceCards[k].root.querySelector("h3").textContent =
        `Slice along ${axisNames(s)[k]}: curvature ${fmtSigned(lam, 4)}` +
        (finite(axis.slope) ? `, slope ${fmtSigned(axis.slope, 3)}` : "");
      sliceChart(sliceCards[k].plot, s, k);
    });
    stats.dataset.epoch = String(s.epoch);
    stats.dataset.step = String(s.step); // set last: the drawing above shows this step
  };
  draw();

  select.addEventListener("change", async () => {
    current = await load(Number(select.value));
    state.landscapeStep = current.step;
    draw();
    host.dispatchEvent(new CustomEvent("kn-rendered", { bubbles: true }));
  });
  return { redraw: draw };
}
