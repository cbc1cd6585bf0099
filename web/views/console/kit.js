// Small pieces every console page uses: labelled fields, messages, selects of tutors.

import { h, retranslate, tr } from "../../dom.js";
import { t } from "../../i18n.js";

let nextId = 0;

/** A label (translated) bound to `control`, with an optional hint read with it. */
export function field(labelKey, control, { hintKey = null } = {}) {
  if (!control.id) control.id = `f${++nextId}`;
  const wrapper = h("div", { class: "field" }, tr("label", labelKey, null, { for: control.id }));
  if (hintKey) {
    const hint = tr("p", hintKey, null, { class: "field__hint muted", id: `${control.id}-hint` });
    control.setAttribute("aria-describedby", hint.id);
    wrapper.append(control, hint);
  } else {
    wrapper.append(control);
  }
  return wrapper;
}

/** A select whose options are [value, labelKey] pairs (labels translated). */
export function choice(options, value) {
  const select = h("select", {});
  for (const [optionValue, key] of options) {
    select.append(tr("option", key, null, { value: optionValue }));
  }
  if (value !== undefined && value !== null) select.value = String(value);
  return select;
}

/** A hidden alert paragraph for failures; `show(failure)` fills it. */
export function alertBox(app) {
  const box = h("p", { class: "message message--error", role: "alert" });
  box.hidden = true;
  box.show = (failure) => {
    if (failure && failure.status === 401) return;
    app.showFailure(box, failure);
  };
  box.say = (key, params = null) => {
    retranslate(box, key, params || {});
    box.hidden = false;
  };
  box.clear = () => {
    box.hidden = true;
  };
  return box;
}

/** A polite live region for what just happened ("Saved."). */
export function statusBox() {
  const box = h("p", { class: "muted console__status", role: "status" });
  box.say = (key, params = null) => retranslate(box, key, params || {});
  return box;
}

/** A select of every tutor, for the pages that look at one tutor at a time. */
export async function tutorPicker(app, { allKey = null } = {}) {
  const select = h("select", {});
  if (allKey) select.append(tr("option", allKey, null, { value: "" }));
  const all = await app.api.request("GET", "/api/tutors");
  // A teacher reads the questions and sessions of their own tutors only; the others would be 403.
  const tutors = app.me?.role === "teacher" ? all.filter((t) => t.owner_id === app.me.id) : all;
  for (const tutor of tutors) {
    select.append(h("option", { value: String(tutor.id) }, tutor.name));
  }
  return { select, tutors };
}

/** Download `blob` as `name` through a temporary link. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function button(key, attrs = {}) {
  return tr("button", key, null, { type: "button", class: "button", ...attrs });
}

/**
 * Give `el` the accessible name `key` (with `params`), kept in the current language. Its own
 * text key, if any, gets the same params, which it does not use.
 */
export function named(el, key, params = null) {
  el.dataset.i18nAttr = `aria-label:${key}`;
  if (params) el.dataset.i18nParams = JSON.stringify(params);
  el.setAttribute("aria-label", t(key, params || {}));
  return el;
}
