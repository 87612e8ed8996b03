// Spectrum view: the Hessian's eigenvalue density (stochastic Lanczos
// quadrature) at one probe, picked with a slider, with the negative / near-zero
// / positive masses the probe logged (each ± its standard error across runs) and
// the measured λmin and λmax (notes F13, F14). The curve is Gaussian-smoothed:
// smoothing spreads eigenvalues near zero over both signs, so no mass is ever
// computed from it here; the numbers shown are the logged ones.

import { getJson } from "../api.js";
import { legend, lineChart } from "../chart.js";
import { html } from "../dom.js";
import { fmt } from "../format.js";
import { card } from "../layout.js";

export const title = "Spectrum";

const NEGATIVE = "rgba(224, 49, 49, 0.30)";
const POSITIVE = "rgba(25, 113, 194, 0.16)";

export async function show(host, { run, state }) {
  const cache = new Map();
  const load = async (step) => {
    const key = step === undefined ? "last" : step;
    if (!cache.has(key)) cache.set(key, await getJson("spectrum", { run, step }));
    return cache.get(key);
  };
  let current = await load(state.spectrumStep);
  if (state.spectrumStep !== undefined && current.step !== state.spectrumStep)
    current = await load();
  host.replaceChildren();

  const head = html("div", { class: "kn-view-head kn-controls" }, host);
  const label = html("label", { for: "kn-spectrum-step", class: "kn-slider-label" }, head, "Epoch");
  const slider = html(
    "input",
    {
      type: "range",
      id: "kn-spectrum-step",
      min: 0,
      max: current.steps.length - 1,
      step: 1,
      value: current.steps.indexOf(current.step),
      "aria-label": "epoch of the spectral density",
    },
    head,
  );
  const stepText = html("output", { id: "kn-spectrum-step-value", class: "kn-step-value" }, head);
  const stats = html("div", { class: "kn-stats", id: "kn-spectrum-stats" }, head);
  const key = html("div", { id: "kn-spectrum-legend" }, head);
  label.title = "Drag to pick the probe (one per logged epoch)";

  const grid = html("div", { class: "kn-grid kn-grid-wide" }, host);
  const densityCard = card(
    grid,
    "Eigenvalue density ρ(λ) of the Hessian",
    "The masses above are counted from the quadrature (|λ| ≤ τ counts as zero), not read off this smoothed curve. " +
      "A negative mass clearly above its error means directions of negative curvature: a saddle, not a minimum.",
  );

  const draw = () => {
    const s = current;
    // The epoch as Keras prints it (logged step + 1); requests still name the step.
    stepText.textContent = `${s.epoch}  (${s.steps.indexOf(s.step) + 1} of ${s.steps.length})`;
    stats.replaceChildren();
    const stat = (name, value, role, text) => {
      const item = html(
        "span",
        {
          class: "kn-stat",
          "data-role": role,
          "data-value": value === null || value === undefined ? "" : value,
        },
        stats,
      );
      html("span", { class: "kn-stat-name" }, item, name);
      html("b", {}, item, text);
      return item;
    };
    const m = s.masses;
    const mass = (name, field, role) => {
      const value = m ? m[field] : null;
      const err = m ? m[`${field}_stderr`] : null;
      const text =
        value === null || value === undefined
          ? "–"
          : `${fmt(value, 3)} ± ${err === null ? "?" : fmt(err, 2)}`;
      const item = stat(name, value, role, text);
      item.dataset.stderr = err === null || err === undefined ? "" : err;
    };
    mass("negative", "negative_fraction", "negative-fraction");
    mass("near zero", "zero_fraction", "zero-fraction");
    mass("positive", "positive_fraction", "positive-fraction");
    if (m && m.threshold !== null) stat("τ", m.threshold, "threshold", fmt(m.threshold, 3));
    if (!m) stat("masses", null, "masses-missing", "not logged");
    stat("λmin", s.lambda_min, "lambda-min", s.lambda_min === null ? "–" : fmt(s.lambda_min, 4));
    stat("λmax", s.lambda_max, "lambda-max", s.lambda_max === null ? "–" : fmt(s.lambda_max, 4));
    const sigma = m && m.sigma !== null ? `, σ = ${fmt(m.sigma, 3)}` : "";
    const curveLabel = `smoothed (Gaussian${sigma})`;
    key.replaceChildren();
    legend(key, [
      { key: "smoothed", label: `ρ(λ) ${curveLabel}`, color: "#343a40" },
      { key: "smoothed-negative", label: "smoothed curve, λ < 0", color: NEGATIVE, shape: "box" },
      { key: "smoothed-positive", label: "smoothed curve, λ > 0", color: POSITIVE, shape: "box" },
      { key: "lambda-min", label: "λmin (Lanczos)", color: "#c92a2a" },
      { key: "lambda-max", label: "λmax (Lanczos)", color: "#1971c2" },
    ]);
    const lo = s.grid[0];
    const hi = s.grid[s.grid.length - 1];
    const xLo = Math.min(lo, s.lambda_min ?? lo);
    const xHi = Math.max(hi, s.lambda_max ?? hi);
    const pad = (xHi - xLo) * 0.02;
    lineChart(densityCard.plot, {
      id: "spectrum-density",
      height: 320,
      xLabel: "eigenvalue λ",
      xDomain: [xLo - pad, xHi + pad],
      yDomain: [0, Math.max(...s.density) * 1.08 || 1],
      series: [
        {
          name: "density",
          label: `ρ(λ) ${curveLabel}`,
          color: "#343a40",
          steps: s.grid,
          values: s.density,
          dots: false,
        },
      ],
      areas: [
        { name: "negative", color: NEGATIVE, xs: s.grid, ys: s.density, from: -Infinity, to: 0 },
        { name: "positive", color: POSITIVE, xs: s.grid, ys: s.density, from: 0, to: Infinity },
      ],
      vlines: [
        { x: 0, color: "#adb5bd", role: "zero", dashed: false },
        {
          x: s.lambda_min,
          color: "#c92a2a",
          role: "lambda-min",
          label: `λmin ${fmt(s.lambda_min, 3)}`,
        },
        {
          x: s.lambda_max,
          color: "#1971c2",
          role: "lambda-max",
          label: `λmax ${fmt(s.lambda_max, 3)}`,
          labelRow: 1,
        },
      ],
    });
    stats.dataset.epoch = String(s.epoch);
    stats.dataset.step = String(s.step); // set last: the drawing above shows this step
  };
  draw();

  // Steps are fetched when the slider stops for a moment, and cached.
  let timer = null;
  slider.addEventListener("input", () => {
    clearTimeout(timer);
    const step = current.steps[Number(slider.value)];
    stepText.textContent = `${step + 1}  …`;
    timer = setTimeout(async () => {
      current = await load(step);
      state.spectrumStep = current.step;
      draw();
      host.dispatchEvent(new CustomEvent("kn-rendered", { bubbles: true }));
    }, 120);
  });
  return { redraw: draw };
}
