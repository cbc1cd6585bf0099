// Tutors: the list, a form to create or edit one (with a voice sample), deleting with a check.

import { h, retranslate, tr } from "../../dom.js";
import { alertBox, button, choice, field, named, statusBox } from "./kit.js";

const LANGUAGES = [
  ["en", "language.en"],
  ["zh", "language.zh"],
];
const POLICIES = [
  ["course_first", "console.tutors.policy.course_first"],
  ["course_only", "console.tutors.policy.course_only"],
];
const DEFAULT_VOICE = { en: "af_heart", zh: "zf_xiaobei" };

export async function renderTutorsAdmin(body, { app }) {
  const alert = alertBox(app);
  const status = statusBox();
  const list = named(h("ul", { class: "admin-list" }), "console.tutors.list");
  const formSlot = h("div", {});
  const create = button("console.tutors.new", { class: "button primary" });
  // Shown once the voices and knowledge bases the form offers are known.
  create.hidden = true;
  body.append(alert, status, create, formSlot, list);

  const [voices, kbs, classes] = await Promise.all([
    loadVoices(app),
    loadKbs(app, alert),
    loadClasses(app),
  ]);
  const refresh = async () => {
    let tutors;
    try {
      tutors = await app.api.request("GET", "/api/tutors");
    } catch (failure) {
      alert.show(failure);
      return;
    }
    list.replaceChildren(...tutors.map((tutor) => row(tutor)));
  };
  const open = (tutor) => {
    alert.clear();
    formSlot.replaceChildren(
      tutorForm(app, tutor, { voices, kbs, classes, alert, status, done: closeForm, refresh }),
    );
    formSlot.querySelector("input").focus();
  };
  const closeForm = () => {
    formSlot.replaceChildren();
    create.focus();
  };
  const row = (tutor) => {
    const edit = button("console.edit", { class: "button button--small" });
    named(edit, "console.editNamed", { name: tutor.name });
    edit.addEventListener("click", () => open(tutor));
    const remove = button("console.delete", { class: "button button--small danger" });
    named(remove, "console.deleteNamed", { name: tutor.name });
    remove.addEventListener("click", async () => {
      if (!window.confirm(app.t("console.tutors.confirmDelete", { name: tutor.name }))) return;
      try {
        await app.api.request("DELETE", `/api/tutors/${tutor.id}`);
        status.say("console.tutors.deleted", { name: tutor.name });
        await refresh();
        create.focus();
      } catch (failure) {
        alert.show(failure);
      }
    });
    const language = tutor.language === "zh" ? "language.zh" : "language.en";
    return h(
      "li",
      { class: "card admin-row", dataset: { tutorId: String(tutor.id) } },
      h(
        "div",
        { class: "admin-row__main" },
        h("h2", { class: "admin-row__title" }, tutor.name),
        h(
          "p",
          { class: "muted" },
          tutor.subject,
          " · ",
          tr("span", language),
          " · ",
          h("span", { class: "admin-row__voice" }, tutor.voice || ""),
        ),
      ),
      h("div", { class: "admin-row__actions" }, edit, remove),
    );
  };
  create.addEventListener("click", () => open(null));
  create.hidden = false;
  await refresh();
}

async function loadVoices(app) {
  try {
    return (await app.api.request("GET", "/api/voices")).voices;
  } catch {
    return null; // no voice models here: the voice is typed instead, and has no sample
  }
}

async function loadClasses(app) {
  try {
    return await app.api.request("GET", "/api/classes");
  } catch {
    return []; // a server without classes: every tutor is for everyone
  }
}

/** Who may talk to the tutor: every student, or the students of the classes ticked. */
function audience(value, classes) {
  const everyone = h("input", { type: "checkbox", checked: value.everyone !== false });
  const boxes = classes.map((group) => {
    const box = h("input", {
      type: "checkbox",
      value: String(group.id),
      checked: (value.class_ids || []).includes(group.id),
    });
    return { box, row: h("label", { class: "check" }, box, ` ${group.name}`) };
  });
  const set = h(
    "fieldset",
    { class: "field audience" },
    tr("legend", "console.tutors.audience"),
    h("label", { class: "check" }, everyone, " ", tr("span", "console.tutors.everyone")),
    boxes.map((b) => b.row),
  );
  set.read = () => ({
    everyone: everyone.checked,
    ...(classes.length ? { class_ids: boxes.filter((b) => b.box.checked).map((b) => Number(b.box.value)) } : {}),
  });
  return set;
}

async function loadKbs(app, alert) {
  try {
    return await app.api.request("GET", "/api/knowledge-bases");
  } catch (failure) {
    alert.show(failure);
    return [];
  }
}

function tutorForm(app, tutor, { voices, kbs, classes, alert, status, done, refresh }) {
  const isNew = tutor === null;
  const value = tutor || { language: "en", answer_policy: "course_first", kb_id: null };
  const name = h("input", { type: "text", required: true, maxlength: 120, value: value.name });
  const subject = h("input", { type: "text", required: true, maxlength: 120, value: value.subject });
  const language = choice(LANGUAGES, value.language);
  const persona = h("textarea", { rows: 3, maxlength: 4000 });
  persona.value = value.persona_prompt || "";
  const policy = choice(POLICIES, value.answer_policy);
  const kb = choice([["", "console.tutors.noMaterial"]]);
  for (const base of kbs) kb.append(h("option", { value: String(base.id) }, base.name));
  kb.value = value.kb_id ? String(value.kb_id) : "";

  const voice = voices ? h("select", {}) : h("input", { type: "text", maxlength: 64 });
  const fillVoices = () => {
    if (!voices) return;
    const keep = voice.value || value.voice;
    voice.replaceChildren(
      ...voices
        .filter((v) => v.language === language.value)
        .map((v) => h("option", { value: v.id }, v.id)),
    );
    const ids = [...voice.options].map((o) => o.value);
    voice.value = ids.includes(keep) ? keep : DEFAULT_VOICE[language.value] || ids[0] || "";
  };
  if (!voices) voice.value = value.voice || DEFAULT_VOICE[value.language];
  fillVoices();
  language.addEventListener("change", fillVoices);

  const player = h("audio", { controls: true, class: "voice-sample" });
  player.hidden = true;
  const play = button("console.tutors.playSample", { class: "button button--small" });
  play.disabled = !voices;
  play.addEventListener("click", async () => {
    play.disabled = true;
    retranslate(play, "console.tutors.synthesizing");
    try {
      const response = await app.api.request("POST", "/api/voices/sample", {
        body: { voice: voice.value },
        raw: true,
      });
      if (player.src) URL.revokeObjectURL(player.src);
      player.src = URL.createObjectURL(await response.blob());
      player.hidden = false;
      await player.play().catch(() => {});
    } catch (failure) {
      alert.show(failure);
    } finally {
      play.disabled = false;
      retranslate(play, "console.tutors.playSample");
    }
  });

  const who = audience(value, classes);
  const save = tr("button", isNew ? "console.create" : "console.save", null, {
    type: "submit",
    class: "button primary",
  });
  const cancel = button("console.cancel");
  cancel.addEventListener("click", done);
  const form = h(
    "form",
    { class: "card console-form", "aria-labelledby": "tutor-form-heading" },
    tr("h2", isNew ? "console.tutors.new" : "console.tutors.editing", { name: value.name || "" }, {
      id: "tutor-form-heading",
    }),
    field("console.tutors.name", name),
    field("console.tutors.subject", subject),
    field("console.tutors.language", language),
    field("console.tutors.persona", persona, { hintKey: "console.tutors.personaHint" }),
    h("div", { class: "field-row" }, field("console.tutors.voice", voice), play),
    player,
    field("console.tutors.policy", policy, { hintKey: "console.tutors.policyHint" }),
    field("console.tutors.material", kb),
    who,
    h("div", { class: "form-actions" }, save, cancel),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.clear();
    const fields = {
      name: name.value,
      subject: subject.value,
      language: language.value,
      persona_prompt: persona.value,
      voice: voice.value,
      answer_policy: policy.value,
      kb_id: kb.value ? Number(kb.value) : null,
      ...who.read(),
    };
    try {
      const path = isNew ? "/api/tutors" : `/api/tutors/${tutor.id}`;
      const saved = await app.api.request(isNew ? "POST" : "PATCH", path, { body: fields });
      status.say(isNew ? "console.tutors.created" : "console.saved", { name: saved.name });
      await refresh();
      done();
    } catch (failure) {
      alert.show(failure);
    }
  });
  return form;
}
