// Entry of the kerasnotes tab. TensorBoard loads this ES module in an iframe
// and calls render(). It draws a run picker and four views, and redraws when
// TensorBoard reloads its data (the host's "experimental.DataReloaded" message).

import { getJson } from "./api.js";
import { escapeHtml, html } from "./dom.js";
import * as curvature from "./views/curvature.js";
import * as landscape from "./views/landscape.js";
import * as notes from "./views/notes.js";
import * as optimizer from "./views/optimizer.js";
import * as spectrum from "./views/spectrum.js";

const VIEWS = { curvature, spectrum, landscape, optimizer, notes };

const state = {
  runs: [],
  run: null,
  view: "curvature",
  lang: "en",
  spectrumStep: undefined,
  landscapeStep: undefined,
  shown: null, // {redraw} of the view on screen
  generation: 0, // drops answers that arrive after a newer request began
};
let ui = null;

function loadStyle() {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./style.css", import.meta.url).href;
  document.head.appendChild(link);
}

function setStatus(kind, text) {
  ui.app.dataset.state = kind;
  ui.status.textContent = text;
  ui.status.className = `kn-status kn-status-${kind}`;
}

// Which view a run can fill; the others are greyed out but stay clickable.
function available(run, view) {
  if (!run) return view === "notes";
  if (view === "curvature") return run.curvature;
  if (view === "spectrum") return run.spectrum;
  if (view === "landscape") return run.landscape;
  if (view === "optimizer")
    return run.optimizer.length > 0 || run.learning_rate || run.early_stopping;
  return true;
}

// The little markdown the callbacks write in kerasnotes/run_info: paragraphs,
// **bold**, `code` and fenced blocks. The text is escaped first, so nothing in
// it can become markup of its own.
function markdown(text) {
  const escaped = escapeHtml(text);
  return escaped
    .split(/```[a-z]*\n?/)
    .map((part, i) => {
      if (i % 2) return `<pre>${part}</pre>`;
      return part
        .split(/\n\s*\n/)
        .filter((p) => p.trim())
        .map(
          (p) =>
            `<p>${p.replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>").replace(/`([^`]+)`/g, "<code>$1</code>")}</p>`,
        )
        .join("");
    })
    .join("");
}

function buildShell() {
  document.title = "kerasnotes";
  const app = html("div", { id: "kn-app", "data-state": "loading" }, document.body);
  const bar = html("header", { class: "kn-bar" }, app);
  html("span", { class: "kn-brand" }, bar, "kerasnotes");
  const tabs = html("nav", { class: "kn-tabs", role: "tablist" }, bar);
  const buttons = {};
  for (const [name, view] of Object.entries(VIEWS)) {
    const button = html(
      "button",
      { type: "button", role: "tab", "data-view": name, id: `kn-tab-${name}` },
      tabs,
      view.title,
    );
    button.addEventListener("click", () => {
      state.view = name;
      showView();
    });
    buttons[name] = button;
  }
  const runBox = html("label", { class: "kn-run" }, bar);
  html("span", {}, runBox, "Run");
  const select = html("select", { id: "kn-run", "aria-label": "run" }, runBox);
  select.addEventListener("change", () => {
    state.run = select.value;
    state.spectrumStep = undefined;
    state.landscapeStep = undefined;
    showView();
  });
  const status = html("span", { class: "kn-status", id: "kn-status", role: "status" }, bar);
  const info = html("details", { class: "kn-run-info", id: "kn-run-info", hidden: "" }, app);
  html("summary", {}, info, "About this run");
  const infoText = html("div", { class: "kn-run-info-text" }, info);
  const main = html("main", { id: "kn-view" }, app);
  ui = { app, buttons, select, status, info, infoText, main };
}

function fillRuns() {
  const names = state.runs.map((r) => r.run);
  if (!names.includes(state.run)) {
    // Prefer the run that fills the most views.
    const score = (r) =>
      ["curvature", "spectrum", "optimizer"].filter((v) => available(r, v)).length;
    const best = [...state.runs].sort((a, b) => score(b) - score(a))[0];
    state.run = best ? best.run : null;
  }
  ui.select.replaceChildren();
  for (const name of names) html("option", { value: name }, ui.select, name);
  if (state.run) ui.select.value = state.run;
  ui.select.disabled = names.length === 0;
}

async function showView() {
  const generation = ++state.generation;
  const run = state.runs.find((r) => r.run === state.run) || null;
  for (const [name, button] of Object.entries(ui.buttons)) {
    button.setAttribute("aria-selected", String(name === state.view));
    button.classList.toggle("kn-unavailable", !available(run, name));
  }
  ui.info.hidden = !(run && run.run_info);
  ui.infoText.innerHTML = run && run.run_info ? markdown(run.run_info) : "";
  ui.app.dataset.view = state.view;
  ui.app.dataset.run = state.run || "";
  if (!run && state.view !== "notes") {
    ui.main.replaceChildren();
    html("div", { class: "kn-empty-page" }, ui.main).innerHTML =
      "<h2>No kerasnotes data yet</h2><p>Train with a kerasnotes callback that has a <code>log_dir</code> " +
      "(SaddlePointDetector, LandscapeLogger, OptimizerInspector, LearningRateDecay, EarlyStopping), e.g. " +
      "<code>kerasnotes tour --logdir runs</code>, then point TensorBoard at that directory.</p>";
    setStatus("ready", "no runs");
    return;
  }
  if (!available(run, state.view)) {
    ui.main.replaceChildren();
    html("div", { class: "kn-empty-page" }, ui.main).textContent =
      `Run “${state.run}” logged nothing for the ${VIEWS[state.view].title} view.`;
    setStatus("ready", "");
    return;
  }
  setStatus("loading", "loading…");
  const host = html("div", { class: "kn-view", "data-view": state.view });
  try {
    const shown = await VIEWS[state.view].show(host, {
      run: state.run,
      state,
      onLanguage: (lang) => {
        state.lang = lang;
        showView();
      },
    });
    if (generation !== state.generation) return;
    ui.main.replaceChildren(host);
    state.shown = shown;
    // Charts measure their container, so draw again now that it is on the page.
    shown.redraw();
    setStatus("ready", "");
  } catch (error) {
    if (generation !== state.generation) return;
    ui.main.replaceChildren();
    html("div", { class: "kn-empty-page kn-error" }, ui.main).textContent = String(
      error.message || error,
    );
    setStatus("error", "could not load");
  }
}

async function refresh() {
  try {
    state.runs = (await getJson("runs")).runs;
  } catch (error) {
    setStatus("error", String(error.message || error));
    return;
  }
  fillRuns();
  await showView();
}

// TensorBoard's plugin host talks over a MessagePort: JSON messages
// {type, id, payload, error, isReply}; every message it sends expects a reply.
function connectToHost() {
  if (window.parent === window) return;
  const channel = new MessageChannel();
  const port = channel.port1;
  port.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.isReply) return;
    if (
      message.type === "experimental.DataReloaded" ||
      message.type === "experimental.RunsChanged"
    ) {
      refresh();
    }
    port.postMessage(
      JSON.stringify({
        type: message.type,
        id: message.id,
        payload: null,
        error: null,
        isReply: true,
      }),
    );
  };
  port.start();
  window.parent.postMessage("experimental.bootstrap", "*", [channel.port2]);
}

export async function render() {
  loadStyle();
  buildShell();
  connectToHost();
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => state.shown && state.shown.redraw(), 150);
  });
  await refresh();
}
