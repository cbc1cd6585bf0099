// Every string the interface shows, in English and Chinese, and the current language.

import { CONSOLE_STRINGS } from "./i18n-console.js";

const STRINGS = {
  en: {
    "app.title": "Virtual Tutor",
    "app.skip": "Skip to main content",
    "lang.label": "Language",
    "nav.tutors": "Tutors",
    "nav.history": "Past sessions",
    "nav.logout": "Log out",
    "nav.signedInAs": "Signed in as {name}",

    "login.heading": "Log in",
    "login.intro": "Talk with a tutor by voice or text.",
    "login.email": "Email",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.busy": "Logging in…",
    "login.wrong": "Wrong email or password.",
    "login.expired": "Your session has expired, please log in again",
    "login.loggedOut": "You have logged out.",
    "login.missing": "Please enter your email and password.",

    "tutors.heading": "Choose a tutor",
    "tutors.loading": "Loading tutors…",
    "tutors.empty": "No tutors are available yet.",
    "tutors.subject": "Subject",
    "tutors.language": "Language",
    "tutors.start": "Start a call",
    "tutors.startWith": "Start a call with {name}",
    "tutors.starting": "Starting…",
    "tutors.busy": "All tutors are busy right now. Please try again in {seconds} seconds.",
    "tutors.busyNoTime": "All tutors are busy right now. Please try again shortly.",
    "language.en": "English",
    "language.zh": "Chinese",

    "call.heading": "Call with {name}",
    "call.state": "Connection",
    "call.state.new": "Preparing…",
    "call.state.microphone": "Asking for the microphone…",
    "call.state.gathering": "Preparing the connection…",
    "call.state.connecting": "Connecting…",
    "call.state.connected": "Connected",
    "call.state.disconnected": "Connection interrupted, reconnecting…",
    "call.state.failed": "The connection failed.",
    "call.state.closed": "Call ended",
    "call.transport.websocket": "WebRTC could not connect: the call goes over a WebSocket instead.",
    "call.activity.listening": "Listening…",
    "call.activity.speaking": "{name} is speaking",
    "call.activity.thinking": "{name} is thinking…",
    "call.activity.interrupted": "{name} stopped",
    "call.mute": "Mute",
    "call.unmute": "Unmute",
    "call.stop": "Stop talking",
    "call.mutedNote": "Your microphone is muted: the tutor cannot hear you.",
    "call.hangup": "Hang up",
    "call.hangingUp": "Hanging up…",
    "call.enableSound": "Turn on sound",
    "call.mic.denied":
      "Microphone access was denied. You can still type your messages, and you will hear the tutor. To talk, allow the microphone in your browser settings and start a new call.",
    "call.mic.missing":
      "No microphone was found. You can still type your messages, and you will hear the tutor.",
    "call.mic.unavailable":
      "The microphone cannot be used on this page. You can still type your messages.",
    "call.mic.error": "The microphone could not be started. You can still type your messages.",
    "call.failed": "The call could not be started: {message}",
    "call.lost": "The call was lost: {message}",
    "call.engineLost":
      "The tutor's server stopped, so this call has ended. Everything said so far is saved. Start a new call to go on.",
    "call.endedBy": "The call has ended ({reason}).",
    "call.again": "Start a new call",
    "call.ended": "The call has ended.",
    "call.backToTutors": "Back to tutors",
    "call.conversation": "Conversation",
    "call.empty": "Say hello, or type a message below.",
    "call.typeLabel": "Message",
    "call.typePlaceholder": "Type a message…",
    "call.send": "Send",
    "call.notReady": "The chat is not connected yet.",

    "turn.you": "You",
    "turn.tutor": "Tutor",
    "turn.partial": "still listening",
    "turn.interrupted": "Interrupted",
    "turn.typed": "typed",
    "turn.spoken": "spoken",
    "turn.latency": "{ms} ms",
    "turn.latencySeconds": "{seconds} s",
    "turn.latencyLabel": "Response time:",
    "turn.latencyTitle": "Time from the end of your question to the first sound of the reply",
    "turn.sources": "Sources ({count})",
    "turn.error": "Error: {message}",

    "history.heading": "Past sessions",
    "history.loading": "Loading sessions…",
    "history.empty": "You have no sessions yet.",
    "history.tutor": "Tutor",
    "history.started": "Started",
    "history.status": "Status",
    "history.open": "View transcript",
    "history.firstQuestion": "First question:",
    "history.back": "Back to past sessions",
    "history.transcript": "Transcript of the call with {name}",
    "history.noTurns": "Nothing was said in this session.",
    "status.active": "Active",
    "status.ended": "Ended",
    "status.failed": "Failed",
    "status.pending": "Pending",
    "reason.hangup": "hung up",
    "reason.ended_by_student": "ended by you",
    "reason.failed": "connection lost",
    "reason.connect_timeout": "could not connect",
    "reason.session_timeout": "time limit reached",
    "reason.shutdown": "server restarted",
    "reason.engine_lost": "the tutor's server stopped",

    "error.network": "The server cannot be reached. Check your connection and try again.",
    "error.generic": "Something went wrong: {message}",
  },
  zh: {
    "app.title": "虚拟导师",
    "app.skip": "跳到主要内容",
    "lang.label": "语言",
    "nav.tutors": "导师",
    "nav.history": "历史会话",
    "nav.logout": "退出登录",
    "nav.signedInAs": "当前用户：{name}",

    "login.heading": "登录",
    "login.intro": "用语音或文字与导师交流。",
    "login.email": "电子邮箱",
    "login.password": "密码",
    "login.submit": "登录",
    "login.busy": "正在登录…",
    "login.wrong": "邮箱或密码错误。",
    "login.expired": "登录已过期，请重新登录",
    "login.loggedOut": "您已退出登录。",
    "login.missing": "请输入邮箱和密码。",

    "tutors.heading": "选择导师",
    "tutors.loading": "正在加载导师…",
    "tutors.empty": "暂时没有可用的导师。",
    "tutors.subject": "科目",
    "tutors.language": "语言",
    "tutors.start": "开始通话",
    "tutors.startWith": "与{name}开始通话",
    "tutors.starting": "正在开始…",
    "tutors.busy": "所有导师都在忙，请在 {seconds} 秒后重试。",
    "tutors.busyNoTime": "所有导师都在忙，请稍后重试。",
    "language.en": "英语",
    "language.zh": "中文",

    "call.heading": "与{name}通话",
    "call.state": "连接状态",
    "call.state.new": "准备中…",
    "call.state.microphone": "正在请求麦克风…",
    "call.state.gathering": "正在准备连接…",
    "call.state.connecting": "正在连接…",
    "call.state.connected": "已连接",
    "call.transport.websocket": "WebRTC 无法连接：通话改用 WebSocket 进行。",
    "call.state.disconnected": "连接中断，正在重连…",
    "call.state.failed": "连接失败。",
    "call.state.closed": "通话已结束",
    "call.activity.listening": "正在听…",
    "call.activity.speaking": "{name}正在说话",
    "call.activity.thinking": "{name}正在思考…",
    "call.activity.interrupted": "{name}停下了",
    "call.mute": "静音",
    "call.unmute": "取消静音",
    "call.stop": "停止说话",
    "call.mutedNote": "麦克风已静音：导师听不到您的声音。",
    "call.hangup": "挂断",
    "call.hangingUp": "正在挂断…",
    "call.enableSound": "打开声音",
    "call.mic.denied":
      "麦克风权限被拒绝。您仍然可以输入文字，也能听到导师的声音。如需语音交流，请在浏览器设置中允许使用麦克风，然后重新开始通话。",
    "call.mic.missing": "没有找到麦克风。您仍然可以输入文字，也能听到导师的声音。",
    "call.mic.unavailable": "此页面无法使用麦克风。您仍然可以输入文字。",
    "call.mic.error": "麦克风无法启动。您仍然可以输入文字。",
    "call.failed": "无法开始通话：{message}",
    "call.lost": "通话中断：{message}",
    "call.engineLost": "导师的服务器停止了，这次通话已结束。之前的对话都已保存。开始新的通话即可继续。",
    "call.endedBy": "通话已结束（{reason}）。",
    "call.again": "开始新的通话",
    "call.ended": "通话已结束。",
    "call.backToTutors": "返回导师列表",
    "call.conversation": "对话",
    "call.empty": "打个招呼，或在下方输入文字。",
    "call.typeLabel": "消息",
    "call.typePlaceholder": "输入消息…",
    "call.send": "发送",
    "call.notReady": "聊天尚未连接。",

    "turn.you": "我",
    "turn.tutor": "导师",
    "turn.partial": "正在识别",
    "turn.interrupted": "已打断",
    "turn.typed": "文字",
    "turn.spoken": "语音",
    "turn.latency": "{ms} 毫秒",
    "turn.latencySeconds": "{seconds} 秒",
    "turn.latencyLabel": "响应时间：",
    "turn.latencyTitle": "从您提问结束到听到回复第一个声音的时间",
    "turn.sources": "参考资料（{count}）",
    "turn.error": "错误：{message}",

    "history.heading": "历史会话",
    "history.loading": "正在加载会话…",
    "history.empty": "您还没有任何会话。",
    "history.tutor": "导师",
    "history.started": "开始时间",
    "history.status": "状态",
    "history.open": "查看记录",
    "history.firstQuestion": "第一个问题：",
    "history.back": "返回历史会话",
    "history.transcript": "与{name}的通话记录",
    "history.noTurns": "这次会话没有对话内容。",
    "status.active": "进行中",
    "status.ended": "已结束",
    "status.failed": "失败",
    "status.pending": "等待中",
    "reason.hangup": "已挂断",
    "reason.ended_by_student": "由您结束",
    "reason.failed": "连接中断",
    "reason.connect_timeout": "未能连接",
    "reason.session_timeout": "已达时长上限",
    "reason.shutdown": "服务器重启",
    "reason.engine_lost": "导师的服务器停止了",

    "error.network": "无法连接服务器，请检查网络后重试。",
    "error.generic": "出现问题：{message}",
  },
};

for (const code of Object.keys(STRINGS)) Object.assign(STRINGS[code], CONSOLE_STRINGS[code]);

export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "zh", name: "中文" },
];

const STORAGE_KEY = "vt.lang";
const listeners = new Set();
let current = initialLanguage();

function initialLanguage() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && saved in STRINGS) return saved;
  return browserLanguage(navigator.language);
}

/** The interface language for a BCP 47 tag: Chinese for zh*, English otherwise. */
export function browserLanguage(tag) {
  return (tag || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function language() {
  return current;
}

/** The tag for `lang` attributes and Intl formatters. */
export function locale() {
  return current === "zh" ? "zh-CN" : "en";
}

export function setLanguage(code) {
  if (!(code in STRINGS) || code === current) return;
  current = code;
  localStorage.setItem(STORAGE_KEY, code);
  for (const listener of listeners) listener(code);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function hasString(key) {
  return key in STRINGS.en;
}

/** The string for `key` in the current language, with `{name}` placeholders filled in. */
export function t(key, params = {}) {
  const template = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) =>
    name in params ? String(params[name]) : match,
  );
}

/**
 * Fill every `[data-i18n]` element under root (its text; `data-i18n-params` holds JSON
 * placeholders) and every `[data-i18n-attr]` ("attr:key;attr:key", same placeholders).
 */
export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const params = el.dataset.i18nParams ? JSON.parse(el.dataset.i18nParams) : {};
    el.textContent = t(el.dataset.i18n, params);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    const params = el.dataset.i18nParams ? JSON.parse(el.dataset.i18nParams) : {};
    for (const pair of el.dataset.i18nAttr.split(";").filter(Boolean)) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr, t(key, params));
    }
  }
}

/** A Date from an ISO string; one without an offset is UTC, as the server stores it. */
export function parseDate(value) {
  if (value instanceof Date) return value;
  if (typeof value === "number") return new Date(value);
  const text = String(value ?? "");
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(text);
  return new Date(hasZone || !text.includes("T") ? text : `${text}Z`);
}

export function formatTime(value) {
  const date = parseDate(value);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(date);
}

export function formatDateTime(value) {
  const date = parseDate(value);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(
    date,
  );
}
