// What every view of the dashboard shares: the API client and its token, the banners, statuses and
// progress bars, the cancel confirmation, cursor paging, and mounting a view from its <template>.
// The router (app.js) plugs itself in through `hooks`, so views can navigate without importing it.

export const API = "/api/v1";
const TOKEN_KEY = "taskapi.token";
const READ_ONLY_KEY = "taskapi.readOnly";
export const ACTIVE = new Set(["pending", "running"]);

export const $ = (id) => document.getElementById(id);

/** Set by app.js: `navigate(url, historyState)`, `refresh()`, `refreshSoon()`, `listen(filters)` (the
 *  SSE stream: `null` for none), `isLive()`, `nav()` (the header's links follow the view's project). */
export const hooks = {
  navigate: () => {},
  refresh: () => {},
  refreshSoon: () => {},
  listen: () => {},
  isLive: () => false,
  nav: () => {},
};

/** Increases with every route: an answer that arrives for an older view is dropped. */
export const view = { seq: 0, tokenDeclined: false };
export const current = (seq) => seq === view.seq;

// -- the API -------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
  sessionStorage.removeItem(READ_ONLY_KEY);
  view.tokenDeclined = false;
}

export function readOnly() {
  return sessionStorage.getItem(READ_ONLY_KEY) === "1";
}

/** A failed write's message for people; a 403 also hides the buttons that would fail the same way. */
export function refusal(error, what) {
  if (error.status !== 403) return error.message;
  sessionStorage.setItem(READ_ONLY_KEY, "1");
  return (
    `${error.message}. This token may only read, so ${what} buttons are now hidden; ` +
    'use "API token" to enter one that may operate.'
  );
}

/** A GET URL a link can carry (a PDF): the token goes in ?access_token=, which the API takes on GETs. */
export function withToken(path) {
  if (!token()) return path;
  return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token())}`;
}

export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  headers.set("Accept", "application/json");
  if (token()) headers.set("Authorization", `Bearer ${token()}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers, cache: "no-store" });
  } catch (error) {
    showBanner("The server cannot be reached. Retrying…");
    throw new ApiError(0, "The server cannot be reached");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  const message = body && typeof body.message === "string" ? body.message : response.statusText;
  if (response.status === 503) {
    showBanner(`The task store is unreachable: ${message}. Retrying…`);
    throw new ApiError(503, message);
  }
  if (response.ok || response.status === 400 || response.status === 404) hideBanner();
  if (response.status === 401) askForToken(token() ? "The token was refused; enter another one." : message);
  if (!response.ok) throw new ApiError(response.status, message);
  return { body, headers: response.headers };
}

/** POST a JSON body (or none). */
export function post(path, body) {
  if (body === undefined) return api(path, { method: "POST" });
  return api(path, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Content-Type": "application/json" },
  });
}

/** An error worth showing in the view: outages have the banner instead, and retry by themselves. */
export const shown = (error) => error.status !== 503 && error.status !== 0;

export function showBanner(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
}

export function hideBanner() {
  $("banner").hidden = true;
}

export function askForToken(reason) {
  $("token-button").hidden = false;
  const dialog = $("token-dialog");
  if (dialog.open || view.tokenDeclined) return;
  $("token-reason").textContent = reason || "This server needs an API token.";
  $("token-input").value = "";
  dialog.showModal();
}

// -- small DOM helpers ---------------------------------------------------------------------------

/** `h("a", {href: "/", className: "x"}, "text", child)`: an element; strings become text, never HTML. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key in element && !key.startsWith("aria") && !key.startsWith("data")) element[key] = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  element.append(
    ...children.flat().filter((child) => child !== null && child !== undefined && child !== false),
  );
  return element;
}

/** A link that the router follows without reloading the page. */
export const navLink = (href, text, props = {}) => h("a", { href, "data-nav": true, ...props }, text);

/** Fill a message box: a lead line, then any hints (nodes or strings). */
export function showMessage(box, lead, ...hints) {
  box.replaceChildren(h("p", { className: "lead" }, lead), ...hints.filter(Boolean));
  box.hidden = false;
}

export function setStatus(element, status) {
  element.textContent = status;
  element.className = `status status-${status}`;
}

export function setProgress(bar, text, task) {
  const total = Number(task.total) || 0;
  const done = Number(task.progress) || 0;
  if (total > 0) {
    bar.max = total;
    bar.value = Math.min(done, total);
    text.textContent = `${done} / ${total}`;
  } else if (task.status === "running") {
    bar.removeAttribute("value"); // indeterminate: running, total unknown
    text.textContent = done ? String(done) : "";
  } else {
    bar.max = 1;
    bar.value = task.status === "completed" ? 1 : 0;
    text.textContent = done ? String(done) : "";
  }
}

/** Show `sectionId`, filled from its <template> (if it has one) when empty. Views that are not shown hold no
 *  elements, so the page never has two fields or buttons of the same name at once. */
export function mount(sectionId) {
  const section = $(sectionId);
  const template = $(`${sectionId}-template`);
  const fresh = Boolean(template) && !section.firstElementChild;
  if (fresh) section.append(template.content.cloneNode(true));
  section.hidden = false;
  return fresh; // the caller wires a freshly filled view's elements
}

export function unmount(sectionId) {
  const section = $(sectionId);
  section.hidden = true;
  if ($(`${sectionId}-template`)) section.replaceChildren();
}

// -- paging by cursor ----------------------------------------------------------------------------

/** The current URL with another cursor (none: the first page). */
export function pageUrl(cursor) {
  const query = new URLSearchParams(location.search);
  if (cursor) query.set("cursor", cursor);
  else query.delete("cursor");
  return query.toString() ? `/?${query}` : "/";
}

/** Newest / Newer / Older buttons; the cursors of the pages before this one ride in history.state. */
export function wirePager(ids, nextCursor) {
  const back = () => [...((history.state && history.state.back) || [])];
  $(ids.newest).addEventListener("click", () => hooks.navigate(pageUrl(null), { back: [] }));
  $(ids.older).addEventListener("click", () => {
    const stack = back();
    stack.push(new URLSearchParams(location.search).get("cursor") || "");
    hooks.navigate(pageUrl(nextCursor()), { back: stack });
  });
  $(ids.newer).addEventListener("click", () => {
    const stack = back();
    const previous = stack.pop();
    hooks.navigate(pageUrl(previous), { back: stack });
  });
}

export function renderPager(ids, nextCursor) {
  const back = (history.state && history.state.back) || [];
  const cursor = new URLSearchParams(location.search).get("cursor");
  $(ids.newest).disabled = !cursor;
  $(ids.newer).disabled = back.length === 0;
  $(ids.older).disabled = !nextCursor;
  $(ids.label).textContent = cursor ? `Page ${back.length + 1}` : "Page 1";
}

// -- cancel, with a confirmation -----------------------------------------------------------------

/** Ask, then cancel: `what` is {title, question, confirm (the button's label), cancel: async () =>
 *  the success line, noun: what a read-only token cannot cancel}. The API's answer shows at once. */
export function confirmCancel(what) {
  $("cancel-title").textContent = what.title;
  $("cancel-question").textContent = what.question;
  const result = $("cancel-result");
  result.textContent = "";
  result.className = "";
  const confirm = $("cancel-confirm");
  confirm.textContent = what.confirm;
  confirm.hidden = false;
  confirm.disabled = false;
  $("cancel-keep").hidden = false;
  $("cancel-close").hidden = true;
  confirm.onclick = () => runCancel(what);
  $("cancel-dialog").showModal();
}

async function runCancel(what) {
  const result = $("cancel-result");
  $("cancel-confirm").disabled = true;
  result.textContent = "Cancelling…";
  try {
    result.textContent = await what.cancel();
    result.className = "ok";
  } catch (error) {
    result.textContent = refusal(error, what.noun);
    result.className = "error";
  }
  $("cancel-keep").hidden = true;
  $("cancel-confirm").hidden = true;
  $("cancel-close").hidden = false;
  $("cancel-close").focus();
  hooks.refresh();
}
