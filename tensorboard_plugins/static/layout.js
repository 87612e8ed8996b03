// Page furniture shared by the views: a titled card holding one chart or table.

import { html } from "./dom.js";

export function card(parent, title, caption = "", attrs = {}) {
  const root = html("section", { class: "kn-card", ...attrs }, parent);
  html("h3", {}, root, title);
  if (caption) html("p", { class: "kn-caption" }, root, caption);
  const plot = html("div", { class: "kn-plot" }, root);
  return { root, plot };
}
