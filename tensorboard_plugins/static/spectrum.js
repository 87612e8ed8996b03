// Spectrum view: the Hessian's eigenvalue density (stochastic Lanczos
// quadrature) at one probe, picked with a slider; the mass on negative
// eigenvalues is shaded, the measured λmin and λmax are marked (notes F13, F14).

import { getJson } from "./api.js";
import { fmt, html, legend, lineChart } from "./chart.js";
import { card } from "./layout.js";

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
  if (state.spectrumStep !== undefined && current.step !== state.spectrumStep) current = await load();
  host.replaceChildren();

  const head = html("div", { class: "kn-view-head kn-controls" }, host);
  const label = html("label", { for: "kn-spectrum-step", class: "kn-slider-label" }, head, "Epoch");
  const slider = html("input", {
    type: "range",
    id: "kn-spectrum-step",
    min: 0,
    max: current.steps.length - 1,
    step: 1,
    value: current.steps.indexOf(current.step),
    "aria-label": "epoch of the spectral density",
  }, head);
  const stepText = html("output", { id: "kn-spectrum-step-value", class: "kn-step-value" }, head);
  const stats = html("div", { class: "kn-stats", id: "kn-spectrum-stats" }, head);
  legend(head, [
    { label: "mass on λ < 0", color: NEGATIVE, shape: "box" },
    { label: "mass on λ > 0", color: POSITIVE, shape: "box" },
    { label: "λmin (Lanczos)", color: "#c92a2a" },
    { label: "λmax (Lanczos)", color: "#1971c2" },
  ]);
  label.title = "Drag to pick the probe (one per logged epoch)";

  const grid = html("div", { class: "kn-grid kn-grid-wide" }, host);
  const densityCard = card(
    grid,
    "Eigenvalue density ρ(λ) of the Hessian",
    "Negative mass > 0 means descent directions of negative curvature exist: a saddle, not a minimum.",
  );

  const draw = () => {
    const s = current;
    // The epoch as Keras prints it (logged step + 1); requests still name the step.
    stepText.textContent = `${s.epoch}  (${s.steps.indexOf(s.step) + 1} of ${s.steps.length})`;
    stats.replaceChildren();
    const stat = (name, value, role) => {
      const item = html("span", { class: "kn-stat", "data-role": role, "data-value": value === null ? "" : value }, stats);
      html("span", { class: "kn-stat-name" }, item, name);
      html("b", {}, item, value === null ? "–" : role === "negative-mass" ? `${fmt(100 * value, 3)} %` : fmt(value, 4));
    };
    stat("negative mass", s.negative_mass, "negative-mass");
    stat("λmin", s.lambda_min, "lambda-min");
    stat("λmax", s.lambda_max, "lambda-max");
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
      series: [{ name: "density", label: "ρ(λ)", color: "#343a40", steps: s.grid, values: s.density, dots: false }],
      areas: [
        { name: "negative", color: NEGATIVE, xs: s.grid, ys: s.density, from: -Infinity, to: 0 },
        { name: "positive", color: POSITIVE, xs: s.grid, ys: s.density, from: 0, to: Infinity },
      ],
      vlines: [
        { x: 0, color: "#adb5bd", role: "zero", dashed: false },
        { x: s.lambda_min, color: "#c92a2a", role: "lambda-min", label: `λmin ${fmt(s.lambda_min, 3)}` },
        { x: s.lambda_max, color: "#1971c2", role: "lambda-max", label: `λmax ${fmt(s.lambda_max, 3)}`, labelRow: 1 },
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
