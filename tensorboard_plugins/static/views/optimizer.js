// Optimizer view: the effective learning rate of every variable (what Adagrad,
// RMSprop and Adam make of the base rate, F3–F5), the size of the updates, the
// learning-rate schedule (F6, F7) and early stopping's best and stop epochs (F15).

import { getJson, PALETTE } from "../api.js";
import { legend, lineChart } from "../chart.js";
import { html } from "../dom.js";
import { fmt } from "../format.js";
import { card } from "../layout.js";

export const title = "Optimizer";

function spansDecades(values) {
  const positive = values.filter((v) => v !== null && v > 0);
  return (
    positive.length === values.filter((v) => v !== null).length &&
    positive.length > 1 &&
    Math.max(...positive) / Math.min(...positive) >= 10
  );
}

export async function show(host, { run }) {
  const [opt, sched] = await Promise.all([
    getJson("optimizer", { run }),
    getJson("schedule", { run }),
  ]);
  host.replaceChildren();
  const colours = new Map(opt.variables.map((v, i) => [v.name, PALETTE[i % PALETTE.length]]));

  const head = html("div", { class: "kn-view-head" }, host);
  if (opt.omitted_variables) {
    // The route's point budget holds 10,000 variables; say so rather than drop them silently.
    html(
      "p",
      { class: "kn-summary", id: "kn-omitted-variables" },
      head,
      `Showing the first ${opt.variables.length} variables by name; ${opt.omitted_variables} more are not drawn.`,
    );
  }
  if (opt.variables.length) {
    legend(
      head,
      opt.variables.map((v) => ({ key: v.name, label: v.name, color: colours.get(v.name) })),
      { id: "kn-variable-legend" },
    );
  }

  const grid = html("div", { class: "kn-grid" }, host);
  const lrCard = card(
    grid,
    "Effective learning rate per variable (mean over elements)",
    "α/√(g+ε) for Adagrad and RMSprop, with bias correction for Adam; α for SGD.",
  );
  const ratioCard = card(
    grid,
    "Update ratio per variable",
    "mean |Δθ| / mean |θ| per epoch: how far each step moves the weights.",
  );
  const scheduleCard = card(
    grid,
    "Learning rate",
    "The base rate set by LearningRateDecay: α₀·e^(−γt) (F6) or α₀·drop^⌊t/every⌋ (F7).",
  );
  const early = sched.early_stopping;
  // EarlyStopping names its series "early stopping: <monitor>"; the card says "Early stopping" already.
  const monitorName = (sched.monitor_name || "").replace(/^early stopping:\s*/i, "");
  const stopCard = card(
    grid,
    `Early stopping${monitorName ? `: ${monitorName}` : ""}`,
    early
      ? `Best ${fmt(early.best_value, 4)} at epoch ${early.best_epoch}; ${early.stopped_epoch === null ? "training ran to the end" : `stopped at epoch ${early.stopped_epoch}`} (F15).`
      : "Stops when the monitored value stops improving and keeps the best weights (F15).",
    { id: "kn-early-stopping" },
  );

  // Epoch axes show the epoch as Keras prints it: the JSON's `epochs` (logged step + 1).
  const byEpoch = (s) => ({ ...s, steps: s.epochs });
  const perVariable = (field) =>
    opt.variables.map((v) => ({
      name: v.name,
      label: v.name,
      color: colours.get(v.name),
      ...byEpoch(v[field]),
    }));

  const draw = () => {
    lineChart(lrCard.plot, {
      id: "optimizer-effective-lr",
      yScale: "log",
      xLabel: "epoch",
      integerX: true,
      series: perVariable("effective_lr_mean"),
      emptyText: "no OptimizerInspector data in this run",
    });
    lineChart(ratioCard.plot, {
      id: "optimizer-update-ratio",
      yScale: "log",
      xLabel: "epoch",
      integerX: true,
      series: perVariable("update_ratio"),
      emptyText: "no OptimizerInspector data in this run",
    });
    lineChart(scheduleCard.plot, {
      id: "optimizer-learning-rate",
      yScale: spansDecades(sched.learning_rate.values) ? "log" : "linear",
      xLabel: "step (as logged: epoch or batch)",
      integerX: true,
      series: [
        { name: "learning_rate", label: "learning rate", color: "#0b7285", ...sched.learning_rate },
      ],
      emptyText: "no LearningRateDecay data in this run",
    });
    const markers = [];
    const vlines = [];
    if (early) {
      const i = sched.monitor.epochs.indexOf(early.best_epoch);
      const bestY = early.best_value ?? (i >= 0 ? sched.monitor.values[i] : null);
      markers.push({
        x: early.best_epoch,
        y: bestY,
        color: "#2f9e44",
        shape: "star",
        data: { role: "best", step: early.best_step, epoch: early.best_epoch, value: bestY },
        title: `best epoch ${early.best_epoch}`,
      });
      vlines.push({
        x: early.best_epoch,
        color: "#2f9e44",
        role: "best",
        label: `best ${early.best_epoch}`,
      });
      if (early.stopped_epoch !== null) {
        vlines.push({
          x: early.stopped_epoch,
          color: "#c92a2a",
          role: "stopped",
          label: `stopped ${early.stopped_epoch}`,
          labelRow: 1,
        });
      }
    }
    lineChart(stopCard.plot, {
      id: "optimizer-early-stopping",
      xLabel: "epoch",
      integerX: true,
      series: [
        {
          name: "monitor",
          label: monitorName || "monitor",
          color: "#e8590c",
          ...byEpoch(sched.monitor),
        },
      ],
      markers,
      vlines,
      emptyText: "no EarlyStopping data in this run",
    });
  };
  draw();
  return { redraw: draw };
}
