// Small SVG line charts for the kerasnotes tab: axes, linear/log/symlog scales,
// series, event markers, vertical rules, shaded areas and a hover read-out.
// Every drawn element carries data-* attributes holding the numbers it shows,
// so a test (or a curious user with the inspector) can read the plotted values.

import { escapeHtml, html, svg } from "./dom.js";
import { fmt, fmtSigned } from "./format.js";

// The largest of 1, 2, 5 x 10^k that is <= m (m > 0): a round number inside a range.
function niceFloor(m) {
  const power = 10 ** Math.floor(Math.log10(m));
  const unit = m / power;
  return (unit >= 5 ? 5 : unit >= 2 ? 2 : 1) * power;
}

// ---------------------------------------------------------------------------
// Scales: value -> [0, 1] along an axis, and back, plus tick positions.

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const nice = unit >= 5 ? 10 : unit >= 2 ? 5 : unit >= 1 ? 2 : 1;
  return (unit > 1 ? nice : 1) * power;
}

function linearScale(lo, hi) {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  return {
    kind: "linear",
    lo,
    hi,
    map: (v) => (v - lo) / (hi - lo),
    valid: (v) => Number.isFinite(v),
    ticks(count = 5) {
      const step = niceStep(hi - lo, count);
      const out = [];
      for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
        out.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
      }
      return out;
    },
  };
}

function logScale(lo, hi) {
  lo = Math.log10(lo);
  hi = Math.log10(hi);
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  return {
    kind: "log",
    lo,
    hi,
    map: (v) => (Math.log10(v) - lo) / (hi - lo),
    valid: (v) => Number.isFinite(v) && v > 0,
    ticks() {
      const out = [];
      const first = Math.ceil(lo - 1e-9);
      const last = Math.floor(hi + 1e-9);
      const decades = last - first + 1;
      for (let e = first; e <= last; e++) out.push(10 ** e);
      if (decades <= 2) {
        // Few decades: add 2x and 5x so the axis still has a handful of labels.
        for (let e = first - 1; e <= last; e++) {
          for (const m of [2, 5]) {
            const t = m * 10 ** e;
            if (Math.log10(t) >= lo && Math.log10(t) <= hi) out.push(t);
          }
        }
      }
      const inside = out.filter((t) => Math.log10(t) >= lo - 1e-9 && Math.log10(t) <= hi + 1e-9);
      if (inside.length >= 3) return inside.sort((a, b) => a - b);
      // Less than a decade: evenly spaced labels read better than one or two powers of ten.
      return linearScale(10 ** lo, 10 ** hi)
        .ticks(4)
        .filter((t) => t > 0);
    },
  };
}

// sign(v) * log10(1 + |v| / c): linear near zero, logarithmic far from it, so a
// tiny negative λmin and a large positive λmax are both visible on one axis.
// c is a tenth of the smallest nonzero |v| shown: that value then sits one
// decade (log10 11) away from zero instead of merging into the zero line, and
// data spanning d decades take d + 1 decades of axis.
function symlogScale(values) {
  const magnitudes = values.filter((v) => Number.isFinite(v) && v !== 0).map(Math.abs);
  const c = magnitudes.length ? Math.max(Math.min(...magnitudes) / 10, 1e-12) : 1;
  const f = (v) => Math.sign(v) * Math.log10(1 + Math.abs(v) / c);
  let lo = Math.min(0, ...values.map(f));
  let hi = Math.max(0, ...values.map(f));
  const pad = (hi - lo) * 0.06 || 1;
  lo -= pad;
  hi += pad;
  return {
    kind: "symlog",
    lo,
    hi,
    map: (v) => (f(v) - lo) / (hi - lo),
    valid: (v) => Number.isFinite(v),
    ticks() {
      const out = new Set([0]);
      const primary = [];
      for (const sign of [1, -1]) {
        const side = values
          .filter((v) => Number.isFinite(v) && Math.sign(v) === sign)
          .map(Math.abs);
        if (!side.length) continue;
        const extent = Math.max(...side);
        for (let e = Math.ceil(Math.log10(c)); 10 ** e <= extent * 1.0001; e++)
          out.add(sign * 10 ** e);
        // A round number inside each side's range, so a side whose values are all
        // below the first power of ten (λmin = -0.0027) still gets a labelled tick.
        const edge = sign * Number(niceFloor(extent).toPrecision(12));
        out.add(edge);
        primary.push(edge);
      }
      const ticks = [...out].filter((t) => f(t) >= lo && f(t) <= hi).sort((a, b) => a - b);
      ticks.primary = primary; // labelled first when labels crowd (see lineChart)
      return ticks;
    },
  };
}

function makeYScale(kind, values, domain) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (kind === "log") {
    const positive = finite.filter((v) => v > 0);
    if (positive.length) {
      const lo = domain ? domain[0] : Math.min(...positive);
      const hi = domain ? domain[1] : Math.max(...positive);
      const span = Math.log10(hi) - Math.log10(lo);
      const pad = span > 0 ? span * 0.06 : 0.3;
      return logScale(lo / 10 ** pad, hi * 10 ** pad);
    }
    kind = "linear";
  }
  if (kind === "symlog" && finite.length) return symlogScale(finite);
  if (domain) return linearScale(domain[0], domain[1]);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 1;
  const pad = (hi - lo) * 0.06;
  return linearScale(lo - pad, hi + pad);
}

// ---------------------------------------------------------------------------

const MARGIN = { top: 12, right: 16, bottom: 34, left: 58 };
// Points at the first and last x of a data-driven axis sit this far inside the
// frame, so their dots and markers (radius <= 8.5) are not cut at its edge.
const X_INSET = 9;
const MAX_POINT_DOTS = 400; // beyond this a series is drawn as a line only

/**
 * Axis titles into the `axes` group: `xLabel` ending at (`right`, `bottom`), `yLabel`
 * turned a quarter left and centred at (`left`, `middle`). An empty label is not drawn.
 */
export function axisLabels(axes, { xLabel, yLabel, right, bottom, middle, left = 12 }) {
  if (xLabel) {
    svg(
      "text",
      { x: right, y: bottom, "text-anchor": "end", class: "kn-label" },
      axes,
    ).textContent = xLabel;
  }
  if (yLabel) {
    svg(
      "text",
      {
        x: left,
        y: middle,
        "text-anchor": "middle",
        class: "kn-label",
        transform: `rotate(-90 ${left} ${middle})`,
      },
      axes,
    ).textContent = yLabel;
  }
}

/**
 * Draw a chart into `host` (its previous content is replaced).
 *
 * spec = {
 *   id, yScale: "linear" | "log" | "symlog", yDomain, xLabel, yLabel, height,
 *   series:  [{name, label, color, steps, values, dashed, dots}],
 *   markers: [{x, y, color, shape: "circle" | "diamond" | "star", data: {...}, title}],
 *   vlines:  [{x, color, label, role, dashed}],
 *   areas:   [{name, color, xs, ys, from, to}],   // filled under ys between x=from and x=to
 * }
 */
export function lineChart(host, spec) {
  host.replaceChildren();
  const width = Math.max(280, host.clientWidth || 480);
  const height = spec.height || 240;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;

  const series = (spec.series || []).filter((s) => s.steps.length);
  const markers = spec.markers || [];
  const vlines = spec.vlines || [];
  const areas = spec.areas || [];

  const xs = [
    ...series.flatMap((s) => s.steps),
    ...markers.map((m) => m.x),
    ...vlines.map((v) => v.x),
    ...areas.flatMap((a) => a.xs),
  ].filter((v) => Number.isFinite(v));
  const ys = [
    ...series.flatMap((s) => s.values),
    ...markers.map((m) => m.y),
    ...areas.flatMap((a) => a.ys),
  ].filter((v) => v !== null && Number.isFinite(v));

  const root = svg("svg", {
    class: "kn-chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "data-chart": spec.id,
    "data-y-scale": spec.yScale || "linear",
    role: "img",
    "aria-label": spec.ariaLabel || spec.id,
  });
  host.appendChild(root);

  if (!xs.length) {
    svg(
      "text",
      { x: width / 2, y: height / 2, class: "kn-empty", "text-anchor": "middle" },
      root,
    ).textContent = spec.emptyText || "nothing logged yet";
    root.setAttribute("data-empty", "true");
    return root;
  }

  let xLo = Math.min(...xs);
  let xHi = Math.max(...xs);
  if (spec.xDomain) [xLo, xHi] = spec.xDomain;
  const xScale = linearScale(xLo, xHi === xLo ? xLo + 1 : xHi);
  if (spec.integerX && xScale.hi - xScale.lo < 4) {
    xScale.ticks = () => {
      const out = [];
      for (let t = Math.ceil(xScale.lo); t <= xScale.hi; t++) out.push(t);
      return out;
    };
  }
  const yScale = makeYScale(spec.yScale || "linear", ys, spec.yDomain);
  // An explicit xDomain already has the caller's own margin (and areas reach the frame).
  const inset = spec.xDomain ? 0 : X_INSET;
  const X = (v) => MARGIN.left + inset + xScale.map(v) * (plotW - 2 * inset);
  const Y = (v) => MARGIN.top + (1 - yScale.map(v)) * plotH;

  // Grid and axes.
  const axes = svg("g", { class: "kn-axes" }, root);
  // Labels at least 16 px apart; zero, then the scale's primary ticks (symlog: one
  // on each side of zero), then the larger magnitudes win (symlog crowds near 0).
  const placed = [];
  const allTicks = yScale.ticks(5);
  const primary = allTicks.primary || [];
  const rank = (t) => (t === 0 ? 0 : primary.includes(t) ? 1 : 2);
  const yTicks = allTicks
    .filter((t) => Y(t) >= MARGIN.top - 0.5 && Y(t) <= MARGIN.top + plotH + 0.5)
    .sort((a, b) => rank(a) - rank(b) || Math.abs(b) - Math.abs(a));
  for (const t of yTicks) {
    const y = Y(t);
    if (placed.some((p) => Math.abs(p - y) < 16)) continue;
    placed.push(y);
    svg(
      "line",
      {
        x1: MARGIN.left,
        x2: MARGIN.left + plotW,
        y1: y,
        y2: y,
        class: t === 0 && yScale.kind !== "log" ? "kn-zero" : "kn-gridline",
      },
      axes,
    );
    svg(
      "text",
      {
        x: MARGIN.left - 6,
        y: y + 4,
        "text-anchor": "end",
        class: "kn-tick",
        "data-axis": "y",
        "data-value": t,
      },
      axes,
    ).textContent = fmtSigned(t, 2);
  }
  const xTicks = xScale.ticks(Math.max(2, Math.floor(plotW / 90)));
  for (const t of xTicks) {
    if (spec.integerX && !Number.isInteger(t)) continue;
    const x = X(t);
    svg(
      "line",
      { x1: x, x2: x, y1: MARGIN.top + plotH, y2: MARGIN.top + plotH + 4, class: "kn-axis" },
      axes,
    );
    svg(
      "text",
      {
        x,
        y: MARGIN.top + plotH + 17,
        "text-anchor": "middle",
        class: "kn-tick",
        "data-axis": "x",
        "data-value": t,
      },
      axes,
    ).textContent = fmtSigned(t, 3);
  }
  svg(
    "rect",
    { x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, class: "kn-frame" },
    axes,
  );
  axisLabels(axes, {
    xLabel: spec.xLabel,
    yLabel: spec.yLabel,
    right: MARGIN.left + plotW,
    bottom: height - 3,
    middle: MARGIN.top + plotH / 2,
  });

  const clipId = `kn-clip-${spec.id}`;
  const defs = svg("defs", {}, root);
  const clip = svg("clipPath", { id: clipId }, defs);
  svg("rect", { x: MARGIN.left, y: MARGIN.top - 6, width: plotW, height: plotH + 12 }, clip);
  const plot = svg("g", { "clip-path": `url(#${clipId})` }, root);

  // Shaded areas (e.g. the density's mass on negative eigenvalues).
  for (const area of areas) {
    const pts = [];
    for (let i = 0; i < area.xs.length; i++) {
      const x = area.xs[i];
      if (x >= area.from && x <= area.to && yScale.valid(area.ys[i]))
        pts.push([X(x), Y(area.ys[i])]);
    }
    if (pts.length < 2) continue;
    const base = Y(
      yScale.kind === "log" ? 10 ** yScale.lo : Math.max(yScale.lo, Math.min(0, yScale.hi)),
    );
    const d =
      `M${pts[0][0]},${base}` +
      pts.map(([x, y]) => `L${x},${y}`).join("") +
      `L${pts[pts.length - 1][0]},${base}Z`;
    svg(
      "path",
      {
        d,
        fill: area.color,
        class: "kn-area",
        "data-area": area.name,
        "data-from": area.from,
        "data-to": area.to,
      },
      plot,
    );
  }

  // Vertical rules (λmin / λmax, early-stopping epochs).
  for (const rule of vlines) {
    if (!Number.isFinite(rule.x)) continue;
    const x = X(rule.x);
    const g = svg("g", { class: "kn-vline", "data-role": rule.role, "data-x": rule.x }, root);
    svg(
      "line",
      {
        x1: x,
        x2: x,
        y1: MARGIN.top,
        y2: MARGIN.top + plotH,
        stroke: rule.color,
        "stroke-dasharray": rule.dashed === false ? null : "5 4",
      },
      g,
    );
    if (rule.label) {
      const right = x > MARGIN.left + plotW * 0.75;
      const label = svg(
        "text",
        {
          x: right ? x - 4 : x + 4,
          y: MARGIN.top + 12 + (rule.labelRow || 0) * 14,
          "text-anchor": right ? "end" : "start",
          class: "kn-vlabel",
          fill: rule.color,
        },
        g,
      );
      label.textContent = rule.label;
      keepInside(label, MARGIN.left + 2, MARGIN.left + plotW - 2);
    }
  }

  // Series.
  for (const s of series) {
    const g = svg(
      "g",
      {
        class: "kn-series",
        "data-series": s.name,
        "data-points": JSON.stringify(s.steps.map((x, i) => [x, s.values[i]])),
      },
      plot,
    );
    let d = "";
    let pen = false;
    for (let i = 0; i < s.steps.length; i++) {
      const v = s.values[i];
      if (v === null || !yScale.valid(v)) {
        pen = false; // a gap where the value was not measured
        continue;
      }
      d += `${pen ? "L" : "M"}${X(s.steps[i]).toFixed(2)},${Y(v).toFixed(2)}`;
      pen = true;
    }
    svg(
      "path",
      {
        d,
        stroke: s.color,
        fill: "none",
        class: "kn-line",
        "stroke-dasharray": s.dashed ? "6 4" : null,
      },
      g,
    );
    if (s.dots !== false && s.steps.length <= MAX_POINT_DOTS) {
      for (let i = 0; i < s.steps.length; i++) {
        const v = s.values[i];
        if (v === null || !yScale.valid(v)) continue;
        svg(
          "circle",
          {
            cx: X(s.steps[i]),
            cy: Y(v),
            r: 2.2,
            fill: s.color,
            class: "kn-point",
            "data-step": s.steps[i],
            "data-value": v,
          },
          g,
        );
      }
    }
  }

  // Event markers.
  const markerGroup = svg("g", { class: "kn-markers" }, root);
  for (const m of markers) {
    if (!Number.isFinite(m.x) || m.y === null || !yScale.valid(m.y)) continue;
    const x = X(m.x);
    const y = Y(m.y);
    const attrs = {
      class: `kn-marker kn-shape-${m.shape || "circle"}`,
      fill: m.color,
      "data-x": m.x,
      "data-y": m.y,
    };
    for (const [key, value] of Object.entries(m.data || {})) attrs[`data-${key}`] = value;
    let node;
    if (m.shape === "diamond") {
      node = svg(
        "path",
        { ...attrs, d: `M${x},${y - 7}L${x + 7},${y}L${x},${y + 7}L${x - 7},${y}Z` },
        markerGroup,
      );
    } else if (m.shape === "star") {
      let d = "";
      for (let k = 0; k < 10; k++) {
        const r = k % 2 ? 3.6 : 8.5;
        const a = -Math.PI / 2 + (k * Math.PI) / 5;
        d += `${k ? "L" : "M"}${(x + r * Math.cos(a)).toFixed(2)},${(y + r * Math.sin(a)).toFixed(2)}`;
      }
      node = svg("path", { ...attrs, d: d + "Z" }, markerGroup);
    } else {
      node = svg("circle", { ...attrs, cx: x, cy: y, r: 5 }, markerGroup);
    }
    if (m.title) svg("title", {}, node).textContent = m.title;
  }

  if (spec.endLabels) drawEndLabels(root, series, X, Y, plotW, plotH);

  attachHover(root, host, { X, xScale, plotW, plotH, inset, series, markers });
  return root;
}

// The width a text node takes; before the chart is on the page (nothing is
// measured then) an estimate from its length, replaced when the view redraws.
function textWidth(node) {
  const measured = node.getComputedTextLength ? node.getComputedTextLength() : 0;
  return measured > 0 ? measured : node.textContent.length * 6.5;
}

// Shift a text node horizontally so that it lies between xMin and xMax.
function keepInside(node, xMin, xMax) {
  const width = textWidth(node);
  const anchor = node.getAttribute("text-anchor") || "start";
  const x = Number(node.getAttribute("x"));
  const left = anchor === "end" ? x - width : anchor === "middle" ? x - width / 2 : x;
  const shift = left < xMin ? xMin - left : left + width > xMax ? xMax - (left + width) : 0;
  if (shift) node.setAttribute("x", x + shift);
}

// "label value" beside the last measured point of each series, left of it and
// above (below when the frame's top or a label already placed is in the way),
// clamped to the plot frame so a point at its corner keeps a readable label.
function drawEndLabels(root, series, X, Y, plotW, plotH) {
  const ends = [];
  for (const s of series) {
    for (let i = s.steps.length - 1; i >= 0; i--) {
      const v = s.values[i];
      if (v !== null && Number.isFinite(v)) {
        ends.push({ s, x: X(s.steps[i]), y: Y(v), v });
        break;
      }
    }
  }
  const group = svg("g", { class: "kn-end-labels" }, root);
  const top = MARGIN.top + 13; // baselines: the glyphs (11.5 px) stay inside the frame
  const bottom = MARGIN.top + plotH - 5;
  const used = [];
  for (const end of ends.sort((a, b) => a.y - b.y)) {
    const above = end.y - 10;
    const below = end.y + 18;
    let y = above >= top && !used.some((u) => Math.abs(u - above) < 13) ? above : below;
    y = Math.min(bottom, Math.max(top, y));
    used.push(y);
    const label = svg(
      "text",
      {
        x: end.x - 8,
        y,
        "text-anchor": "end",
        class: "kn-end-label",
        fill: end.s.color,
        "data-field": end.s.name,
        "data-value": end.v,
      },
      group,
    );
    label.textContent = `${end.s.label || end.s.name} ${fmtSigned(end.v, 3)}`;
    keepInside(label, MARGIN.left + 2, MARGIN.left + plotW - 2);
  }
}

// A vertical rule that follows the mouse and lists every series' value at the
// nearest logged x.
function attachHover(root, host, geometry) {
  const { X, xScale, plotW, plotH, inset, series } = geometry;
  if (!series.length) return;
  const rule = svg(
    "line",
    { class: "kn-hover", y1: MARGIN.top, y2: MARGIN.top + plotH, visibility: "hidden" },
    root,
  );
  const tip = html("div", { class: "kn-tooltip", hidden: "" }, host);
  const catcher = svg(
    "rect",
    { x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, fill: "transparent" },
    root,
  );
  catcher.addEventListener("mousemove", (event) => {
    const box = root.getBoundingClientRect();
    const px = event.clientX - box.left;
    const xValue =
      xScale.lo + ((px - MARGIN.left - inset) / (plotW - 2 * inset)) * (xScale.hi - xScale.lo);
    let best = null;
    for (const s of series) {
      for (const x of s.steps)
        if (best === null || Math.abs(x - xValue) < Math.abs(best - xValue)) best = x;
    }
    if (best === null) return;
    rule.setAttribute("x1", X(best));
    rule.setAttribute("x2", X(best));
    rule.setAttribute("visibility", "visible");
    const rows = series
      .map((s) => {
        const i = s.steps.indexOf(best);
        return i < 0
          ? null
          : `<span style="color:${s.color}">●</span> ${escapeHtml(s.label || s.name)}: <b>${fmt(s.values[i], 4)}</b>`;
      })
      .filter(Boolean);
    tip.innerHTML = `<div class="kn-tip-x">x = ${fmt(best, 6)}</div>${rows.join("<br>")}`;
    tip.hidden = false;
    const left = Math.min(X(best) + 12, root.clientWidth - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${MARGIN.top + 4}px`;
  });
  catcher.addEventListener("mouseleave", () => {
    rule.setAttribute("visibility", "hidden");
    tip.hidden = true;
  });
}

/** A legend: coloured swatches with labels; `items` = [{label, color, shape, title}]. */
export function legend(host, items, attrs = {}) {
  const box = html("div", { class: "kn-legend", ...attrs }, host);
  for (const item of items) {
    const entry = html(
      "span",
      { class: "kn-legend-item", "data-legend": item.key || item.label },
      box,
    );
    if (item.title) entry.title = item.title;
    html(
      "span",
      { class: `kn-swatch kn-swatch-${item.shape || "line"}`, style: `background:${item.color}` },
      entry,
    );
    html("span", {}, entry, item.label);
  }
  return box;
}
