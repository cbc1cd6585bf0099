// The list of tutors, and starting a call with one.

import { h, retranslate, tr } from "../dom.js";

export async function renderTutors(main, { app }) {
  const message = h("p", { class: "message message--error", role: "alert", id: "tutors-error" });
  message.hidden = true;
  const status = tr("p", "tutors.loading", null, { class: "muted", role: "status" });
  const list = h("ul", { class: "tutor-list", "aria-labelledby": "tutors-heading" });
  main.append(
    h(
      "section",
      { class: "view view--tutors", "aria-labelledby": "tutors-heading" },
      tr("h1", "tutors.heading", null, { id: "tutors-heading", tabindex: "-1" }),
      message,
      status,
      list,
    ),
  );

  let tutors;
  try {
    tutors = await app.api.tutors();
  } catch (failure) {
    status.remove();
    if (failure.status !== 401) app.showFailure(message, failure);
    return;
  }
  if (tutors.length === 0) {
    retranslate(status, "tutors.empty");
    return;
  }
  status.remove();
  for (const tutor of tutors) list.append(tutorCard(tutor, app, message));
}

function tutorCard(tutor, app, message) {
  // aria-label names the tutor, so a screen-reader user hears which call a button starts.
  const button = tr("button", "tutors.start", { name: tutor.name }, {
    type: "button",
    class: "button primary",
    dataset: { i18nAttr: "aria-label:tutors.startWith" },
  });
  button.setAttribute("aria-label", app.t("tutors.startWith", { name: tutor.name }));

  button.addEventListener("click", async () => {
    message.hidden = true;
    button.disabled = true;
    retranslate(button, "tutors.starting");
    try {
      await app.startCall(tutor);
    } catch (failure) {
      if (failure.status === 503) {
        const key = failure.retryAfter ? "tutors.busy" : "tutors.busyNoTime";
        retranslate(message, key, { seconds: failure.retryAfter });
        message.hidden = false;
      } else if (failure.status !== 401) {
        app.showFailure(message, failure);
      }
      button.disabled = false;
      retranslate(button, "tutors.start");
    }
  });

  const languageKey = tutor.language === "zh" ? "language.zh" : "language.en";
  return h(
    "li",
    { class: "card tutor", dataset: { tutorId: String(tutor.id) } },
    h("h2", { class: "tutor__name" }, tutor.name),
    h(
      "dl",
      { class: "tutor__facts" },
      h("div", {}, tr("dt", "tutors.subject"), h("dd", {}, tutor.subject || "")),
      h("div", {}, tr("dt", "tutors.language"), tr("dd", languageKey, null, { lang: tutor.language })),
    ),
    button,
  );
}
