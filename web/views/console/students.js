// Students and classes: accounts (added one by one or from a class's CSV, their one-time
// passwords shown once), password resets, disabling, and the classes with their members.

import { h, tr } from "../../dom.js";
import { alertBox, button, choice, field, named, statusBox } from "./kit.js";

export async function renderStudents(body, { app }) {
  const alert = alertBox(app);
  const status = statusBox();
  const secrets = h("div", { class: "one-time", "aria-live": "polite" });
  const users = named(h("ul", { class: "admin-list" }), "console.students.accounts");
  const classes = named(h("ul", { class: "admin-list" }), "console.students.classes");
  body.append(alert, status, secrets);

  let classList = [];
  const refresh = async () => {
    const [people, groups] = await Promise.all([
      app.api.request("GET", "/api/users"),
      app.api.request("GET", "/api/classes"),
    ]);
    // A class's members may come only with the class itself.
    classList = await Promise.all(
      groups.map((g) => (g.members ? g : app.api.request("GET", `/api/classes/${g.id}`))),
    );
    users.replaceChildren(...people.map((user) => userRow(app, user, { alert, status, secrets, refresh })));
    classes.replaceChildren(...classList.map((group) => classRow(app, group, { alert, status, refresh })));
    classPicker.replaceChildren(tr("option", "console.students.noClass", null, { value: "" }));
    for (const group of classList) classPicker.append(h("option", { value: String(group.id) }, group.name));
  };
  const classPicker = h("select", {});
  try {
    await refresh();
  } catch (failure) {
    // The accounts API lands separately; until then this page says so rather than breaking.
    if (failure.status === 404 || failure.status === 405) alert.say("console.students.unavailable");
    else alert.show(failure);
    return;
  }
  body.append(
    addForm(app, { alert, status, secrets, refresh }),
    importForm(app, classPicker, { alert, status, secrets, refresh }),
    tr("h2", "console.students.accounts"),
    users,
    classForm(app, { alert, status, refresh }),
    tr("h2", "console.students.classes"),
    classes,
  );
}

/** Show one-time passwords once: they are not stored in the page or anywhere else. */
function showSecrets(secrets, accounts) {
  const rows = accounts.filter((a) => a.one_time_password);
  if (!rows.length) return;
  secrets.replaceChildren(
    h(
      "div",
      { class: "message message--notice" },
      tr("p", "console.students.oneTime"),
      h(
        "ul",
        {},
        rows.map((a) => h("li", {}, `${a.email}: `, h("code", { class: "one-time__password" }, a.one_time_password))),
      ),
    ),
  );
}

function addForm(app, { alert, status, secrets, refresh }) {
  const email = h("input", { type: "email", required: true, autocomplete: "off" });
  const name = h("input", { type: "text", maxlength: 120 });
  const roles = [["student", "console.role.student"]];
  if (app.me.role === "admin") roles.push(["teacher", "console.role.teacher"], ["admin", "console.role.admin"]);
  const role = choice(roles, "student");
  const form = h(
    "form",
    { class: "card console-form" },
    tr("h2", "console.students.add"),
    field("login.email", email),
    field("console.students.displayName", name),
    field("console.students.role", role),
    tr("button", "console.create", null, { type: "submit", class: "button primary" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.clear();
    try {
      const created = await app.api.request("POST", "/api/users", {
        body: { email: email.value, display_name: name.value, role: role.value },
      });
      showSecrets(secrets, [{ email: created.email || email.value, ...created }]);
      status.say("console.students.created", { email: email.value });
      form.reset();
      await refresh();
    } catch (failure) {
      alert.show(failure);
    }
  });
  return form;
}

function importForm(app, classPicker, { alert, status, secrets, refresh }) {
  const csv = h("textarea", { rows: 4, placeholder: "email,display_name" });
  const form = h(
    "form",
    { class: "card console-form" },
    tr("h2", "console.students.import"),
    field("console.students.csv", csv, { hintKey: "console.students.csvHint" }),
    field("console.students.intoClass", classPicker),
    tr("button", "console.students.importButton", null, { type: "submit", class: "button" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.clear();
    const query = classPicker.value ? `?class_id=${classPicker.value}` : "";
    try {
      const result = await app.api.request("POST", `/api/users/import${query}`, {
        text: csv.value,
        contentType: "text/csv",
      });
      const created = Array.isArray(result) ? result : result.created || result.users || [];
      showSecrets(secrets, created.map((a) => ({ email: a.email || a.user?.email, ...a })));
      status.say("console.students.imported", { count: created.length });
      csv.value = "";
      await refresh();
    } catch (failure) {
      alert.show(failure); // a 422 names the bad lines; nothing of the file was created
    }
  });
  return form;
}

function userRow(app, user, { alert, status, secrets, refresh }) {
  const who = user.display_name || user.email;
  const reset = button("console.students.reset", { class: "button button--small" });
  named(reset, "console.students.resetNamed", { name: who });
  reset.addEventListener("click", async () => {
    try {
      const result = await app.api.request("POST", `/api/users/${user.id}/password`);
      showSecrets(secrets, [{ email: user.email, ...result }]);
    } catch (failure) {
      alert.show(failure);
    }
  });
  const disabled = h("input", { type: "checkbox", checked: Boolean(user.disabled) });
  disabled.addEventListener("change", async () => {
    try {
      await app.api.request("PATCH", `/api/users/${user.id}`, { body: { disabled: disabled.checked } });
      status.say(disabled.checked ? "console.students.disabled" : "console.students.enabled", { name: who });
    } catch (failure) {
      disabled.checked = !disabled.checked;
      alert.show(failure);
    }
  });
  return h(
    "li",
    { class: "card admin-row", dataset: { userId: String(user.id) } },
    h(
      "div",
      { class: "admin-row__main" },
      h("h3", { class: "admin-row__title" }, who),
      h("p", { class: "muted" }, user.email, " · ", tr("span", `console.role.${user.role}`)),
    ),
    h("div", { class: "admin-row__actions" }, field("console.students.disable", disabled), reset),
  );
}

function classForm(app, { alert, status, refresh }) {
  const name = h("input", { type: "text", required: true, maxlength: 120 });
  const form = h(
    "form",
    { class: "card console-form inline-form" },
    field("console.students.newClass", name),
    tr("button", "console.create", null, { type: "submit", class: "button" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await app.api.request("POST", "/api/classes", { body: { name: name.value } });
      status.say("console.students.classCreated", { name: name.value });
      form.reset();
      await refresh();
    } catch (failure) {
      alert.show(failure);
    }
  });
  return form;
}

function classRow(app, group, { alert, status, refresh }) {
  const members = h("ul", { class: "members" });
  for (const member of group.members || []) {
    const remove = button("console.students.removeMember", { class: "button button--small" });
    named(remove, "console.students.removeNamed", { name: member.email });
    remove.addEventListener("click", async () => {
      try {
        await app.api.request("DELETE", `/api/classes/${group.id}/members/${member.id}`);
        await refresh();
      } catch (failure) {
        alert.show(failure);
      }
    });
    members.append(h("li", {}, member.display_name || member.email, " ", remove));
  }
  const email = h("input", { type: "email", required: true });
  const add = h(
    "form",
    { class: "inline-form" },
    field("console.students.memberEmail", email),
    tr("button", "console.students.addMember", null, { type: "submit", class: "button button--small" }),
  );
  add.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await app.api.request("POST", `/api/classes/${group.id}/members`, { body: { email: email.value } });
      status.say("console.students.memberAdded", { email: email.value, name: group.name });
      await refresh();
    } catch (failure) {
      alert.show(failure);
    }
  });
  const remove = button("console.delete", { class: "button button--small danger" });
  named(remove, "console.deleteNamed", { name: group.name });
  remove.addEventListener("click", async () => {
    if (!window.confirm(app.t("console.students.confirmDeleteClass", { name: group.name }))) return;
    try {
      await app.api.request("DELETE", `/api/classes/${group.id}`);
      await refresh();
    } catch (failure) {
      alert.show(failure);
    }
  });
  return h(
    "li",
    { class: "card admin-row", dataset: { classId: String(group.id) } },
    h("div", { class: "admin-row__main" }, h("h3", { class: "admin-row__title" }, group.name), members, add),
    h("div", { class: "admin-row__actions" }, remove),
  );
}
