// What students asked a tutor, by topic: the topics the course material did not cover first
// (what to add material about), counts, and a CSV export.

import { h, tr } from "../../dom.js";
import { formatDateTime } from "../../i18n.js";
import { alertBox, button, choice, download, field, named, tutorPicker } from "./kit.js";

const PERIODS = [
  ["7", "console.questions.days7"],
  ["30", "console.questions.days30"],
  ["90", "console.questions.days90"],
];

export async function renderQuestions(body, { app }) {
  const alert = alertBox(app);
  body.append(alert);
  let picker;
  try {
    picker = (await tutorPicker(app)).select;
  } catch (failure) {
    alert.show(failure);
    return;
  }
  const days = choice(PERIODS, "30");
  const exportCsv = button("console.questions.export");
  const summary = h("p", { class: "muted", role: "status" });
  const topics = named(h("ol", { class: "topic-list" }), "console.questions.topics");
  body.append(
    h("div", { class: "inline-form" }, field("console.tutor", picker), field("console.questions.period", days), exportCsv),
    summary,
    topics,
  );
  const path = () => `/api/tutors/${picker.value}/questions?days=${days.value}`;
  let latest = 0;
  const load = async () => {
    alert.clear();
    if (!picker.value) return;
    // Only the answer to the newest choice is shown, whichever answer comes last.
    const mine = ++latest;
    try {
      const report = await app.api.request("GET", path());
      if (mine !== latest) return;
      const total = report.topics.reduce((sum, topic) => sum + topic.count, 0);
      const uncovered = report.topics.filter((topic) => !topic.covered).length;
      summary.replaceChildren(
        tr("span", "console.questions.summary", {
          questions: total,
          topics: report.topics.length,
          uncovered,
        }),
      );
      topics.replaceChildren(...report.topics.map(topicItem));
    } catch (failure) {
      alert.show(failure);
    }
  };
  exportCsv.addEventListener("click", async () => {
    try {
      const response = await app.api.request("GET", `${path()}&format=csv`, { raw: true });
      download(await response.blob(), `questions-${picker.value}-${days.value}d.csv`);
    } catch (failure) {
      alert.show(failure);
    }
  });
  picker.addEventListener("change", load);
  days.addEventListener("change", load);
  await load();
}

function topicItem(topic) {
  const badge = topic.covered
    ? tr("span", "console.questions.covered", null, { class: "badge badge--ok" })
    : tr("span", "console.questions.uncovered", null, { class: "badge badge--warn" });
  return h(
    "li",
    {
      class: `card topic ${topic.covered ? "topic--covered" : "topic--uncovered"}`,
      dataset: { covered: String(topic.covered) },
    },
    h(
      "div",
      { class: "topic__head" },
      h("h2", { class: "topic__label" }, topic.topic),
      badge,
      tr("span", "console.questions.count", { count: topic.count }, { class: "topic__count muted" }),
    ),
    topic.covered ? null : tr("p", "console.questions.addMaterial", null, { class: "topic__advice" }),
    h(
      "ul",
      { class: "topic__questions" },
      topic.questions.map((q) =>
        h(
          "li",
          {},
          h("span", { class: "topic__question" }, q.text),
          " ",
          h(
            "time",
            { datetime: q.asked_at, class: "muted", dataset: { format: "datetime" } },
            formatDateTime(q.asked_at),
          ),
        ),
      ),
    ),
  );
}
