// DOM helpers shared by the chart and the views: create an HTML or SVG element
// with its attributes in one call, and escape text bound for innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element `tag` with `attrs` (null/undefined ones skipped), appended to `parent` if given. */
export function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (parent) parent.appendChild(node);
  return node;
}

/** An HTML element `tag` with `attrs` and text content, appended to `parent` if given. */
export function html(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

/** `text` with the five HTML-special characters as entities, safe inside innerHTML. */
export function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}
