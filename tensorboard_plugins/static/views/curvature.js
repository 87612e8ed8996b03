// Curvature view: gradient norm, extreme Hessian eigenvalues and minimum ratio
// against the epoch, with every critical-point probe drawn as a marker coloured
// by its kind (notes F13, F14), and the per-layer curvature table (F18).

import { getJson, KINDS } from "../api.js";
import { legend, lineChart } from "../chart.js";
import { html } from "../dom.js";
import { fmt, fmtSigned } from "../format.js";
import { card } from "../layout.js";

export const title = "Curvature";

// The x axis is the epoch as Keras prints it ("Epoch 16/50"): the JSON's
// `epochs`/`epoch`, which are the logged 0-based steps + 1.
const byEpoch = (s) => ({ ...s, steps: s.epochs });

function eventMarkers(events, field, name = null) {
  return events.map((e) => ({
    x: e.epoch,
    y: e[field],
    color: (KINDS[e.kind] || KINDS.error).color,
    data: { kind: e.kind, step: e.step, epoch: e.epoch, value: e[field], field },
    title: `epoch ${e.epoch}: ${(KINDS[e.kind] || KINDS.error).label}${name ? `, ${name} = ${fmtSigned(e[field], 4)}` : ""}`,
  }));
}

const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);

// Every probe stopped at the gradient gate (‖g‖ > grad_tol, no always_probe):
// records exist but no eigenvalue was ever measured.
function gateClosed(series, events) {
  return (
    events.length > 0 &&
    events.every(
      (e) => e.kind === "not_critical" && !finite(e.lambda_min) && !finite(e.lambda_max),
    ) &&
    ![series.lambda_min, series.lambda_max, series.minimum_ratio].some((s) => s.values.some(finite))
  );
}

// What to say instead of two empty panels. grad_tol is not logged (only the
// measured ‖g‖ is), so it is named, never given a number.
function gateClosedMessage(host, series, events) {
  const seen = [
    ...events.map((e) => [e.grad_norm, e.epoch]),
    ...series.grad_norm.values.map((v, i) => [v, series.grad_norm.epochs[i]]),
  ].filter(([v]) => finite(v));
  const box = card(host, "Hessian not probed", "", {
    class: "kn-card kn-gate-closed",
    id: "kn-gate-closed",
  });
  box.plot.remove();
  const first = html(
    "p",
    {},
    box.root,
    `No epoch passed the gradient gate (‖∇L‖ ≤ grad_tol) in ${events.length} probes, so no Hessian eigenvalue was measured. `,
  );
  if (seen.length) {
    const [smallest, epoch] = seen.reduce((best, item) => (item[0] < best[0] ? item : best));
    box.root.dataset.minGradNorm = String(smallest);
    first.append(
      `Smallest ‖∇L‖ seen: ${fmt(smallest, 3)} (epoch ${epoch}); grad_tol itself is not logged.`,
    );
  } else {
    first.append("No gradient norm was logged either.");
  }
  const how = html("p", {}, box.root, "To probe anyway: ");
  html("code", {}, how, "SaddlePointDetector(always_probe=True)");
  how.append(" (analyses every epoch, whatever ‖∇L‖), or a larger ");
  html("code", {}, how, "grad_tol");
  how.append(
    seen.length
      ? ` (above the smallest ‖∇L‖ seen) so the flatter epochs count as critical points.`
      : ".",
  );
}

function summaryLine(events) {
  if (!events.length) return "No critical-point probes logged (SaddlePointDetector writes them).";
  const counts = {};
  for (const e of events) counts[e.kind] = (counts[e.kind] || 0) + 1;
  const parts = Object.keys(KINDS)
    .filter((k) => counts[k])
    .map((k) => `${counts[k]} ${KINDS[k].label}`);
  const escaped = events.filter((e) => e.escaped).length;
  return `${events.length} probes: ${parts.join(" · ")}${escaped ? ` · ${escaped} escaped along the negative-curvature direction` : ""}`;
}

export async function show(host, { run }) {
  const [body, sharp, layers] = await Promise.all([
    getJson("curvature", { run }),
    getJson("sharpness", { run }),
    getJson("layers", { run }),
  ]);
  const { series, events } = body;
  host.replaceChildren();

  const head = html("div", { class: "kn-view-head" }, host);
  html(
    "p",
    { class: "kn-summary", id: "kn-curvature-summary", "data-events": events.length },
    head,
    summaryLine(events),
  );
  // The three kinds a reader expects, plus any other kind this run produced.
  const present = new Set([
    "saddle",
    "local_minimum",
    "not_critical",
    ...events.map((e) => e.kind),
  ]);
  legend(
    head,
    Object.entries(KINDS)
      .filter(([key]) => present.has(key))
      .map(([key, k]) => ({
        key,
        label: k.label,
        color: k.color,
        shape: "dot",
        title: body.rule.conditions[key],
      })),
    { id: "kn-kind-legend" },
  );
  // The rule, as kerasnotes.curvature.classify states it (sent by the server, never restated here).
  html("pre", { class: "kn-rule", id: "kn-kind-rule" }, head, body.rule.text);

  const grid = html("div", { class: "kn-grid" }, host);
  const gradCard = card(
    grid,
    "Gradient norm ‖∇L‖",
    "A critical point needs ∇L ≈ 0 (grad_tol); the Hessian then decides its kind.",
  );
  const closed = gateClosed(series, events);
  if (closed) gateClosedMessage(grid, series, events);
  const lambdaCard = closed
    ? null
    : card(
        grid,
        "Extreme Hessian eigenvalues",
        "The kind follows the rule above (F13), with τ = curvature_tol · max(|λmin|, |λmax|).",
      );
  if (lambdaCard) {
    lambdaCard.root.insertBefore(
      legend(lambdaCard.root, [
        { label: "λmin", color: "#c92a2a" },
        { label: "λmax", color: "#1971c2" },
      ]),
      lambdaCard.plot,
    );
  }
  const ratioCard = closed
    ? null
    : card(
        grid,
        "Minimum ratio",
        "Share of eigenvalues above τ (F14): 1 at a strict local minimum, lower at a saddle.",
      );
  const sharpCard = sharp.series.sharpness.values.some(finite)
    ? card(
        grid,
        "Sharpness and stability threshold",
        "SharpnessMonitor (F17): λmax(H) against 2/η, (2+2β)/η, … for SGD; λmax(P^½HP^½) against 2 or (2+2β₁)/(1−β₁) for Adagrad, RMSprop, Adam. Past the threshold the step diverges on a quadratic.",
        { class: "kn-card", id: "kn-sharpness" },
      )
    : null;
  const tableCard = card(
    grid,
    "Critical points",
    "Every probe, with what was measured (– = not measured).",
  );

  const draw = () => {
    lineChart(gradCard.plot, {
      id: "curvature-grad-norm",
      yScale: "log",
      xLabel: "epoch",
      integerX: true,
      series: [
        { name: "grad_norm", label: "‖∇L‖", color: "#495057", ...byEpoch(series.grad_norm) },
      ],
      markers: eventMarkers(events, "grad_norm"),
    });
    if (sharpCard) {
      lineChart(sharpCard.plot, {
        id: "curvature-sharpness",
        xLabel: "epoch",
        integerX: true,
        series: [
          {
            name: "sharpness",
            label: "sharpness",
            color: "#1971c2",
            ...byEpoch(sharp.series.sharpness),
          },
          {
            name: "threshold",
            label: "threshold",
            color: "#e8590c",
            dashed: true,
            ...byEpoch(sharp.series.threshold),
          },
        ],
        endLabels: true,
      });
    }
    if (closed) return;
    lineChart(lambdaCard.plot, {
      id: "curvature-lambda",
      yScale: "symlog",
      xLabel: "epoch",
      integerX: true,
      series: [
        { name: "lambda_max", label: "λmax", color: "#1971c2", ...byEpoch(series.lambda_max) },
        { name: "lambda_min", label: "λmin", color: "#c92a2a", ...byEpoch(series.lambda_min) },
      ],
      markers: [
        ...eventMarkers(events, "lambda_min", "λmin"),
        ...eventMarkers(events, "lambda_max", "λmax"),
      ],
      endLabels: true,
    });
    lineChart(ratioCard.plot, {
      id: "curvature-minimum-ratio",
      yDomain: [0, 1],
      xLabel: "epoch",
      integerX: true,
      series: [
        {
          name: "minimum_ratio",
          label: "minimum ratio",
          color: "#5f3dc4",
          ...byEpoch(series.minimum_ratio),
        },
      ],
      markers: eventMarkers(events, "minimum_ratio"),
    });
  };
  draw();
  eventsTable(tableCard.plot, events);
  if (layers.tables.length) {
    const layerCard = card(
      grid,
      "Per-layer curvature",
      "Each layer's diagonal Hessian block H_ll = ∂²L/∂θ_l² (F18): its λmax and trace ± standard error (Hutch++; ± 0 when exact). The blocks ignore the coupling between layers: the traces add up to tr(H), the λmax do not.",
      { class: "kn-card", id: "kn-layers" },
    );
    layerTables(layerCard.plot, layers.tables);
  }
  return { redraw: draw };
}

function eventsTable(host, events) {
  const wrap = html("div", { class: "kn-table-wrap" }, host);
  const table = html("table", { class: "kn-table", id: "kn-events-table" }, wrap);
  const head = html("tr", {}, html("thead", {}, table));
  for (const label of [
    "epoch",
    "kind",
    "‖∇L‖",
    "λmin",
    "λmax",
    "ratio",
    "escaped",
    "loss before → after",
    "HVPs",
    "s",
  ]) {
    html("th", {}, head, label);
  }
  const tbody = html("tbody", {}, table);
  for (const e of [...events].reverse()) {
    const kind = KINDS[e.kind] || KINDS.error;
    const row = html(
      "tr",
      { "data-step": e.step, "data-epoch": e.epoch, "data-kind": e.kind },
      tbody,
    );
    html("td", {}, row, String(e.epoch));
    const cell = html("td", {}, row);
    html("span", { class: "kn-kind", style: `background:${kind.color}` }, cell, kind.label);
    for (const v of [e.grad_norm, e.lambda_min, e.lambda_max, e.minimum_ratio])
      html("td", { class: "kn-num" }, row, fmt(v, 3));
    html("td", {}, row, e.escaped === null ? "–" : e.escaped ? "yes" : "no");
    html(
      "td",
      { class: "kn-num" },
      row,
      e.loss_before === null ? "–" : `${fmt(e.loss_before, 4)} → ${fmt(e.loss_after, 4)}`,
    );
    html("td", { class: "kn-num" }, row, e.num_hvp === null ? "–" : String(e.num_hvp));
    html("td", { class: "kn-num" }, row, fmt(e.seconds, 2));
  }
}

// One table per probed epoch, chosen with a selector (the last epoch first).
function layerTables(host, tables) {
  const pick = html("label", { class: "kn-layers-pick" }, host, "epoch ");
  const select = html("select", { id: "kn-layers-step", "aria-label": "epoch" }, pick);
  for (const t of [...tables].reverse())
    html("option", { value: String(t.step) }, select, String(t.epoch));
  const wrap = html("div", { class: "kn-table-wrap" }, host);
  const show = () => {
    const table = tables.find((t) => String(t.step) === select.value);
    wrap.replaceChildren();
    layerTable(wrap, table);
  };
  select.addEventListener("change", show);
  show();
}

function layerTable(host, table) {
  const node = html(
    "table",
    {
      class: "kn-table",
      id: "kn-layers-table",
      "data-step": table.step,
      "data-epoch": table.epoch,
    },
    host,
  );
  const seconds = table.seconds === null ? "" : `, measured in ${fmt(table.seconds, 2)} s`;
  html("caption", {}, node, `epoch ${table.epoch}${seconds}`);
  const head = html("tr", {}, html("thead", {}, node));
  for (const label of ["layer", "parameters", "λmax", "trace ± stderr", "HVPs"])
    html("th", {}, head, label);
  const tbody = html("tbody", {}, node);
  for (const layer of table.layers) {
    const row = html(
      "tr",
      {
        "data-name": layer.name,
        "data-lambda-max": layer.lambda_max,
        "data-trace": layer.trace,
        "data-trace-stderr": layer.trace_stderr,
      },
      tbody,
    );
    html("td", {}, row, layer.name);
    html(
      "td",
      { class: "kn-num" },
      row,
      layer.num_parameters === null ? "–" : String(layer.num_parameters),
    );
    html("td", { class: "kn-num" }, row, fmt(layer.lambda_max, 4));
    html(
      "td",
      { class: "kn-num" },
      row,
      `${fmt(layer.trace, 4)} ± ${layer.trace_stderr === 0 ? "0" : fmt(layer.trace_stderr, 2)}`,
    );
    html("td", { class: "kn-num" }, row, layer.num_hvp === null ? "–" : String(layer.num_hvp));
  }
}
