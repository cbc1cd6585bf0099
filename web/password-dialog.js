// "Change my password": a modal dialog from the header, for every logged-in user.

import { h, retranslate, tr } from "./dom.js";
import { field } from "./views/console/kit.js";

export function openPasswordDialog(app, opener) {
  const current = h("input", { type: "password", required: true, autocomplete: "current-password" });
  const fresh = h("input", { type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const again = h("input", { type: "password", required: true, autocomplete: "new-password" });
  const message = h("p", { class: "message message--error", role: "alert" });
  message.hidden = true;
  const cancel = tr("button", "console.cancel", null, { type: "button", class: "button" });
  const dialog = h(
    "dialog",
    { class: "dialog", "aria-labelledby": "password-heading" },
    h(
      "form",
      { class: "console-form" },
      tr("h2", "password.heading", null, { id: "password-heading" }),
      message,
      field("password.current", current),
      field("password.new", fresh, { hintKey: "password.hint" }),
      field("password.again", again),
      h(
        "div",
        { class: "form-actions" },
        tr("button", "password.submit", null, { type: "submit", class: "button primary" }),
        cancel,
      ),
    ),
  );
  const close = () => {
    dialog.close();
    dialog.remove();
    opener.focus();
  };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  dialog.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    message.hidden = true;
    if (fresh.value !== again.value) {
      retranslate(message, "password.mismatch");
      message.hidden = false;
      again.focus();
      return;
    }
    try {
      const answer = await app.api.request("POST", "/api/auth/password", {
        body: { current_password: current.value, new_password: fresh.value },
        expires: false,
      });
      app.api.adoptToken(answer);
      app.scheduleExpiry();
      close();
      app.notify("password.changed");
    } catch (failure) {
      app.showFailure(message, failure);
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  current.focus();
}
