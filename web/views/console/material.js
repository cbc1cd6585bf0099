// Course material: knowledge bases, documents dropped or chosen for upload, their ingestion
// watched live, the passages each became, and what a tutor would find for a question.

import { h, retranslate, tr } from "../../dom.js";
import { alertBox, button, field, named, statusBox } from "./kit.js";

const POLL_MS = 1000;
const ACCEPT = ".txt,.md,.pdf,text/plain,text/markdown,application/pdf";

export async function renderMaterial(body, { app }) {
  const alert = alertBox(app);
  const status = statusBox();
  const picker = h("select", {});
  const newName = h("input", { type: "text", maxlength: 200, required: true });
  const createForm = h(
    "form",
    { class: "inline-form" },
    field("console.material.newBase", newName),
    tr("button", "console.create", null, { type: "submit", class: "button" }),
  );
  const basePane = h("div", { class: "kb-pane" });
  body.append(alert, status, field("console.material.base", picker), createForm, basePane);

  let stopPolling = () => {};
  const loadBases = async (selected) => {
    const bases = await app.api.request("GET", "/api/knowledge-bases");
    picker.replaceChildren(
      ...bases.map((kb) => h("option", { value: String(kb.id) }, kb.name)),
    );
    if (selected) picker.value = String(selected);
    showBase();
  };
  const showBase = () => {
    stopPolling();
    basePane.replaceChildren();
    if (picker.value) stopPolling = basePaneFor(app, Number(picker.value), basePane, alert, status);
  };
  picker.addEventListener("change", showBase);
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.clear();
    try {
      const kb = await app.api.request("POST", "/api/knowledge-bases", {
        body: { name: newName.value },
      });
      newName.value = "";
      status.say("console.material.created", { name: kb.name });
      await loadBases(kb.id);
    } catch (failure) {
      alert.show(failure);
    }
  });
  try {
    await loadBases(null);
  } catch (failure) {
    alert.show(failure);
  }
  return () => stopPolling();
}

function basePaneFor(app, kbId, pane, alert, status) {
  // The input stays in the tab order (visually hidden, the zone shows its focus): keyboard
  // users open the file chooser with it, mouse users drop files on the zone.
  const input = h("input", {
    type: "file",
    accept: ACCEPT,
    multiple: true,
    class: "visually-hidden",
  });
  const zone = h(
    "label",
    { class: "drop-zone" },
    tr("span", "console.material.drop"),
    input,
  );
  const docs = named(h("ul", { class: "admin-list doc-list" }), "console.material.documents");
  const query = h("input", { type: "search", maxlength: 2000 });
  const results = h("ol", { class: "search-results" });
  const search = h(
    "form",
    { class: "card console-form", role: "search" },
    tr("h2", "console.material.searchHeading"),
    field("console.material.searchLabel", query),
    tr("button", "console.material.searchButton", null, { type: "submit", class: "button" }),
    results,
  );
  pane.append(tr("h2", "console.material.documents"), zone, docs, search);

  const uploadAll = async (files) => {
    alert.clear();
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        await app.api.request("POST", `/api/knowledge-bases/${kbId}/documents`, { form });
        status.say("console.material.uploaded", { name: file.name });
      } catch (failure) {
        alert.show(failure);
      }
    }
    await refresh();
  };
  input.addEventListener("change", () => uploadAll([...input.files]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("drop-zone--over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("drop-zone--over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("drop-zone--over");
    uploadAll([...event.dataTransfer.files]);
  });

  let timer = null;
  let stopped = false;
  const rows = new Map();
  const refresh = async () => {
    clearTimeout(timer);
    if (stopped) return;
    let list;
    try {
      list = await app.api.request("GET", `/api/knowledge-bases/${kbId}/documents`);
    } catch (failure) {
      alert.show(failure);
      return;
    }
    if (stopped) return;
    const seen = new Set();
    for (const doc of list) {
      seen.add(doc.id);
      if (!rows.has(doc.id)) {
        rows.set(doc.id, documentRow(app, kbId, doc, { alert, status, refresh }));
        docs.append(rows.get(doc.id).item);
      }
      rows.get(doc.id).update(doc);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.item.remove();
        rows.delete(id);
      }
    }
    // Ingestion runs in the background: poll while a document is still on its way.
    if (list.some((doc) => doc.status !== "ready" && doc.status !== "failed")) {
      timer = setTimeout(refresh, POLL_MS);
    }
  };
  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!query.value.trim()) return;
    alert.clear();
    try {
      const found = await app.api.request("POST", `/api/knowledge-bases/${kbId}/search`, {
        body: { query: query.value, k: 3 },
      });
      showResults(results, found.items);
    } catch (failure) {
      alert.show(failure);
    }
  });
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function documentRow(app, kbId, doc, { alert, status, refresh }) {
  const state = h("span", { class: "doc__state" });
  const progress = named(h("progress", { max: "1" }), "console.material.progress", { name: doc.title });
  const passages = h("ol", { class: "passages" });
  const details = h(
    "details",
    { class: "doc__passages" },
    tr("summary", "console.material.passages", { count: 0 }),
    passages,
  );
  details.addEventListener("toggle", async () => {
    if (!details.open || passages.childElementCount) return;
    try {
      const path = `/api/knowledge-bases/${kbId}/documents/${doc.id}/passages`;
      for (const passage of await app.api.request("GET", path)) {
        passages.append(
          h(
            "li",
            { class: "passage" },
            passage.location ? h("strong", {}, passage.location) : null,
            h("p", {}, passage.text),
          ),
        );
      }
    } catch (failure) {
      alert.show(failure);
    }
  });
  const remove = button("console.delete", { class: "button button--small danger" });
  named(remove, "console.deleteNamed", { name: doc.title });
  remove.addEventListener("click", async () => {
    if (!window.confirm(app.t("console.material.confirmDelete", { name: doc.title }))) return;
    try {
      await app.api.request("DELETE", `/api/knowledge-bases/${kbId}/documents/${doc.id}`);
      status.say("console.material.deleted", { name: doc.title });
      await refresh();
    } catch (failure) {
      alert.show(failure);
    }
  });
  const item = h(
    "li",
    { class: "card admin-row doc", dataset: { documentId: String(doc.id) } },
    h(
      "div",
      { class: "admin-row__main" },
      h("h3", { class: "admin-row__title" }, doc.title),
      h("p", { class: "muted" }, state, " ", progress),
      details,
    ),
    h("div", { class: "admin-row__actions" }, remove),
  );
  const update = (fresh) => {
    item.dataset.status = fresh.status;
    progress.value = fresh.progress;
    progress.hidden = fresh.status === "ready" || fresh.status === "failed";
    const one = fresh.status === "ready" && fresh.chunk_count === 1;
    const key = one ? "console.material.status.readyOne" : `console.material.status.${fresh.status}`;
    retranslate(state, key, {
      percent: Math.round((fresh.progress || 0) * 100),
      count: fresh.chunk_count,
      error: fresh.error || "",
    });
    retranslate(details.querySelector("summary"), "console.material.passages", {
      count: fresh.chunk_count,
    });
    details.hidden = fresh.status !== "ready";
  };
  return { item, update };
}

function showResults(list, items) {
  list.replaceChildren();
  if (!items.length) {
    list.append(tr("li", "console.material.nothingFound", null, { class: "muted" }));
    return;
  }
  for (const item of items) {
    const verdict = item.relevant ? "console.material.relevant" : "console.material.notRelevant";
    list.append(
      h(
        "li",
        { class: `search-result ${item.relevant ? "search-result--relevant" : ""}` },
        h("strong", {}, item.title || ""),
        item.location ? ` · ${item.location}` : "",
        " · ",
        tr("span", verdict, { score: Number(item.relevance ?? item.score ?? 0).toFixed(2) }),
        h("p", {}, item.text),
      ),
    );
  }
}
