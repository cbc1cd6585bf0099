// The login page.

import { h, retranslate, tr } from "../dom.js";

/** Render the login form. `notice` is an i18n key shown above it (expired, logged out). */
export function renderLogin(main, { app, notice = null }) {
  const email = h("input", {
    id: "login-email",
    name: "email",
    type: "email",
    autocomplete: "username",
    required: true,
    inputmode: "email",
  });
  const password = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const error = h("p", { class: "message message--error", id: "login-error", role: "alert" });
  error.hidden = true;
  const submit = tr("button", "login.submit", null, { type: "submit", class: "button primary" });

  const showError = (key) => {
    retranslate(error, key);
    error.hidden = false;
  };

  const form = h(
    "form",
    { class: "card login", novalidate: true, "aria-describedby": "login-error" },
    h("div", { class: "field" }, tr("label", "login.email", null, { for: "login-email" }), email),
    h(
      "div",
      { class: "field" },
      tr("label", "login.password", null, { for: "login-password" }),
      password,
    ),
    error,
    submit,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!email.value.trim() || !password.value) {
      showError("login.missing");
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    retranslate(submit, "login.busy");
    try {
      await app.api.login(email.value.trim(), password.value);
      await app.afterLogin();
    } catch (failure) {
      if (failure.status === 401 || failure.status === 400 || failure.status === 422) {
        showError("login.wrong");
      } else {
        app.showFailure(error, failure);
      }
      password.select();
      password.focus();
    } finally {
      submit.disabled = false;
      retranslate(submit, "login.submit");
    }
  });

  const noticeEl = notice
    ? tr("p", notice, null, { class: "message message--notice", role: "status", id: "login-notice" })
    : null;
  main.append(
    h(
      "section",
      { class: "view view--login", "aria-labelledby": "login-heading" },
      tr("h1", "login.heading", null, { id: "login-heading", tabindex: "-1" }),
      tr("p", "login.intro", null, { class: "lead" }),
      noticeEl,
      form,
    ),
  );
  email.focus();
}
