// A small element builder, so views read as markup rather than createElement calls.

import { t } from "./i18n.js";

/**
 * h("button", {class: "primary", onclick: fn, dataset: {id: 1}}, "Text", child)
 * Attributes starting with "on" become listeners; false/null attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "text") {
      el.textContent = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An element whose text is the translation of `key`, kept current by i18n.translate(). */
export function tr(tag, key, params = null, attrs = {}) {
  const dataset = { i18n: key };
  if (params) dataset.i18nParams = JSON.stringify(params);
  const el = h(tag, { ...attrs, dataset: { ...(attrs.dataset || {}), ...dataset } });
  el.textContent = t(key, params || {});
  return el;
}

/** Point an element made by tr() at another string; without `params` it keeps its old ones. */
export function retranslate(el, key, params = null) {
  el.dataset.i18n = key;
  if (params) el.dataset.i18nParams = JSON.stringify(params);
  const current = el.dataset.i18nParams ? JSON.parse(el.dataset.i18nParams) : {};
  el.textContent = t(key, current);
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}
