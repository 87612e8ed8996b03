// Notes view: the formulas and explanations behind the other views, in English
// or Chinese, from the same text as `kerasnotes explain`.

import { getJson } from "../api.js";
import { html } from "../dom.js";

export const title = "Notes";

const SECTIONS = [
  { view: "curvature", heading: { en: "Curvature and spectrum", zh: "曲率与特征值谱" } },
  { view: "landscape", heading: { en: "Loss landscape", zh: "损失地形" } },
  {
    view: "optimizer",
    heading: { en: "Optimizer, learning rate and early stopping", zh: "优化器、学习率与早停" },
  },
];
const LABELS = {
  en: {
    when: "When it matters",
    keras: "Difference from Keras",
    api: "In kerasnotes",
    example: "Example",
  },
  zh: { when: "何时重要", keras: "与 Keras 的区别", api: "kerasnotes 中的实现", example: "示例" },
};

function paragraphs(host, text) {
  let list = null;
  for (const line of String(text || "").split("\n")) {
    if (!line.trim()) continue;
    if (line.startsWith("- ")) {
      list = list || html("ul", {}, host);
      html("li", {}, list, line.slice(2));
    } else {
      list = null;
      html("p", {}, host, line);
    }
  }
}

function entry(host, note, lang) {
  const labels = LABELS[lang];
  const box = html(
    "article",
    { class: "kn-note", "data-topic": note.id, lang: lang === "zh" ? "zh-CN" : "en" },
    host,
  );
  const h = html("h3", {}, box);
  html("span", { class: "kn-note-id" }, h, note.id);
  html("span", {}, h, ` ${note.title}`);
  if (note.formula) html("pre", { class: "kn-formula" }, box, note.formula);
  paragraphs(box, note.meaning);
  if (note.when) {
    html("h4", {}, box, labels.when);
    paragraphs(box, note.when);
  }
  if (note.keras_difference) {
    html("h4", {}, box, labels.keras);
    paragraphs(box, note.keras_difference);
  }
  if (note.api && note.api.length) {
    const p = html("p", { class: "kn-api" }, box);
    html("span", { class: "kn-api-label" }, p, `${labels.api}: `);
    note.api.forEach((name, i) => {
      if (i) p.append(", ");
      html("code", {}, p, name);
    });
  }
  if (note.example) {
    const details = html("details", {}, box);
    html("summary", {}, details, labels.example);
    html("pre", { class: "kn-example" }, details, note.example);
  }
}

export async function show(host, { state, onLanguage }) {
  const lang = state.lang;
  const bodies = await Promise.all(SECTIONS.map((s) => getJson("notes", { topic: s.view, lang })));
  host.replaceChildren();
  const head = html("div", { class: "kn-view-head kn-controls" }, host);
  const switcher = html("div", { class: "kn-lang", role: "group", "aria-label": "language" }, head);
  for (const [code, name] of [
    ["en", "English"],
    ["zh", "中文"],
  ]) {
    const button = html(
      "button",
      { type: "button", "data-lang": code, "aria-pressed": code === lang },
      switcher,
      name,
    );
    button.addEventListener("click", () => onLanguage(code));
  }
  const columns = html("div", { class: "kn-notes", id: "kn-notes", "data-lang": lang }, host);
  SECTIONS.forEach((section, i) => {
    const col = html("section", { class: "kn-notes-section", "data-view": section.view }, columns);
    html("h2", {}, col, section.heading[lang]);
    for (const note of bodies[i].entries) entry(col, note, lang);
  });
  return { redraw: () => {} };
}
