// Students' sessions, read-only: the list (per tutor), and one transcript with the sources each
// reply drew on and how long it took, rendered as the students' own history is.

import { Conversation } from "../../conversation.js";
import { h, retranslate, tr } from "../../dom.js";
import { formatDateTime } from "../../i18n.js";
import { alertBox, field, tutorPicker } from "./kit.js";

export async function renderSessions(body, { app, arg }) {
  if (arg) return renderOne(body, app, decodeURIComponent(arg));
  const alert = alertBox(app);
  const list = h("ul", { class: "admin-list session-list" });
  const empty = tr("p", "console.sessions.empty", null, { class: "muted", role: "status" });
  empty.hidden = true;
  body.append(alert);
  let picker;
  try {
    picker = (await tutorPicker(app, { allKey: "console.allTutors" })).select;
  } catch (failure) {
    alert.show(failure);
    return;
  }
  body.append(field("console.tutor", picker), empty, list);
  let latest = 0;
  const load = async () => {
    const query = picker.value ? `?tutor_id=${picker.value}` : "";
    const mine = ++latest;
    try {
      const sessions = await app.api.request("GET", `/api/sessions${query}`);
      if (mine !== latest) return;
      list.replaceChildren(...sessions.map((s) => item(s)));
      empty.hidden = sessions.length > 0;
    } catch (failure) {
      alert.show(failure);
    }
  };
  picker.addEventListener("change", load);
  await load();
}

function item(session) {
  const summaryId = `console-session-${session.session_id}`;
  return h(
    "li",
    { class: "card admin-row", dataset: { sessionId: session.session_id } },
    h(
      "div",
      { class: "admin-row__main", id: summaryId },
      h("h2", { class: "admin-row__title" }, session.student || ""),
      h(
        "p",
        { class: "muted" },
        session.tutor_name || "",
        " · ",
        h(
          "time",
          { datetime: session.created_at, dataset: { format: "datetime" } },
          formatDateTime(session.created_at),
        ),
        " · ",
        tr("span", `status.${session.status}`),
      ),
    ),
    h(
      "a",
      {
        class: "button button--small",
        href: `#/console/sessions/${encodeURIComponent(session.session_id)}`,
        "aria-describedby": summaryId,
      },
      tr("span", "history.open"),
    ),
  );
}

async function renderOne(body, app, sessionId) {
  const alert = alertBox(app);
  const heading = h("h2", {});
  const meta = h("p", { class: "muted" });
  const list = h("ol", { class: "conversation__list", "aria-labelledby": "console-transcript" });
  heading.id = "console-transcript";
  body.append(
    h("a", { class: "back-link", href: "#/console/sessions" }, "← ", tr("span", "console.sessions.back")),
    heading,
    meta,
    alert,
    h("div", { class: "conversation conversation--static" }, list),
  );
  let session;
  try {
    session = await app.api.request("GET", `/api/sessions/${encodeURIComponent(sessionId)}`);
  } catch (failure) {
    alert.show(failure);
    return;
  }
  retranslate(heading, "console.sessions.transcript", {
    student: session.student || "",
    tutor: session.tutor_name || "",
  });
  meta.append(
    h(
      "time",
      { datetime: session.created_at, dataset: { format: "datetime" } },
      formatDateTime(session.created_at),
    ),
  );
  const conversation = new Conversation(list, {
    emptyKey: "history.noTurns",
    userKey: "console.sessions.student",
  });
  conversation.showTurns(session.turns || []);
  for (const turn of session.turns || []) {
    if (turn.role === "user") continue;
    if (turn.sources && turn.sources.length) conversation.sources(turn.turn_id, turn.sources);
    const ms = turn.timings && (turn.timings.llm_first_token_ms ?? turn.timings.total_ms);
    if (!(turn.timings && turn.timings.total_ms) && Number.isFinite(ms)) {
      conversation.latency(turn.turn_id, ms);
    }
  }
}
