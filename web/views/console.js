// The teacher's console: tutors, course material, students and classes, sessions and what
// students asked. Shown to teachers and admins; each page is its own module.

import { h, tr } from "../dom.js";
import { named } from "./console/kit.js";
import { renderMaterial } from "./console/material.js";
import { renderQuestions } from "./console/questions.js";
import { renderSessions } from "./console/sessions.js";
import { renderStudents } from "./console/students.js";
import { renderTutorsAdmin } from "./console/tutors.js";

export const PAGES = {
  tutors: renderTutorsAdmin,
  material: renderMaterial,
  students: renderStudents,
  sessions: renderSessions,
  questions: renderQuestions,
};

export function isStaff(me) {
  return Boolean(me) && (me.role === "teacher" || me.role === "admin");
}

export function renderConsole(main, { app, page, arg }) {
  const current = page in PAGES ? page : "tutors";
  const tabs = named(h("nav", { class: "console__tabs" }), "console.sections");
  for (const name of Object.keys(PAGES)) {
    const link = tr("a", `console.tab.${name}`, null, { href: `#/console/${name}` });
    if (name === current) link.setAttribute("aria-current", "page");
    tabs.append(link);
  }
  const body = h("div", { class: "console__page" });
  main.append(
    h(
      "section",
      { class: `view view--console console--${current}`, "aria-labelledby": "console-heading" },
      tr("h1", `console.heading.${current}`, null, { id: "console-heading", tabindex: "-1" }),
      tabs,
      body,
    ),
  );
  return PAGES[current](body, { app, arg });
}
