// Past sessions: the student's list, and the transcript of one.

import { Conversation } from "../conversation.js";
import { h, retranslate, tr } from "../dom.js";
import { formatDateTime, hasString } from "../i18n.js";

export async function renderHistory(main, { app }) {
  const message = h("p", { class: "message message--error", role: "alert" });
  message.hidden = true;
  const status = tr("p", "history.loading", null, { class: "muted", role: "status" });
  const list = h("ul", { class: "session-list", "aria-labelledby": "history-heading" });
  main.append(
    h(
      "section",
      { class: "view view--history", "aria-labelledby": "history-heading" },
      tr("h1", "history.heading", null, { id: "history-heading", tabindex: "-1" }),
      message,
      status,
      list,
    ),
  );
  let sessions;
  try {
    sessions = await app.api.sessions();
  } catch (failure) {
    status.remove();
    if (failure.status !== 401) app.showFailure(message, failure);
    return;
  }
  if (sessions.length === 0) {
    retranslate(status, "history.empty");
    return;
  }
  status.remove();
  for (const session of sessions) list.append(sessionItem(session));
}

function sessionItem(session) {
  const started = h(
    "time",
    { datetime: session.created_at, class: "session__time", dataset: { format: "datetime" } },
    formatDateTime(session.created_at),
  );
  const summaryId = `session-${session.session_id}`;
  return h(
    "li",
    { class: "card session", dataset: { sessionId: String(session.session_id) } },
    h(
      "div",
      { class: "session__summary", id: summaryId },
      h("h2", { class: "session__tutor" }, session.tutor_name || ""),
      started,
      statusLine(session),
      session.first_question
        ? h(
            "p",
            { class: "session__preview" },
            tr("span", "history.firstQuestion", null, { class: "visually-hidden" }),
            h("q", { dir: "auto" }, session.first_question),
          )
        : null,
    ),
    // The link keeps its visible name; the summary beside it tells which session it opens.
    h(
      "a",
      {
        class: "button",
        href: `#/history/${encodeURIComponent(session.session_id)}`,
        "aria-describedby": summaryId,
      },
      tr("span", "history.open"),
    ),
  );
}

function statusLine(session) {
  const line = h("span", { class: "session__status muted" });
  line.append(known(`status.${session.status}`, session.status));
  if (session.end_reason) line.append(" · ", known(`reason.${session.end_reason}`, session.end_reason));
  return line;
}

/** The translation of `key`, or the server's own word when there is none. */
function known(key, raw) {
  return hasString(key) ? tr("span", key) : h("span", {}, raw);
}

export async function renderTranscript(main, { app, sessionId }) {
  const message = h("p", { class: "message message--error", role: "alert" });
  message.hidden = true;
  const heading = tr("h1", "history.heading", null, { id: "transcript-heading", tabindex: "-1" });
  const meta = h("p", { class: "muted" });
  const list = h("ol", { class: "conversation__list", "aria-labelledby": "transcript-heading" });
  main.append(
    h(
      "section",
      { class: "view view--transcript", "aria-labelledby": "transcript-heading" },
      h("a", { class: "back-link", href: "#/history" }, "← ", tr("span", "history.back")),
      heading,
      meta,
      message,
      h("div", { class: "conversation conversation--static" }, list),
    ),
  );
  let session;
  try {
    session = await app.api.session(sessionId);
  } catch (failure) {
    if (failure.status !== 401) app.showFailure(message, failure);
    return;
  }
  retranslate(heading, "history.transcript", { name: session.tutor_name || "" });
  meta.append(
    h(
      "time",
      { datetime: session.created_at, dataset: { format: "datetime" } },
      formatDateTime(session.created_at),
    ),
    " · ",
    statusLine(session),
  );
  const conversation = new Conversation(list, { emptyKey: "history.noTurns" });
  conversation.showTurns(session.turns || []);
}
