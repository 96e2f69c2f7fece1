// The taskapi dashboard: a reference client of the public API, in plain JavaScript modules (no build).
// Views are picked by the query string, so every view can be shared and reloaded:
//   /?project_id=&status=&task_type=   the tasks          /?task=42   one task
//   /?view=papers&project=1&q=...      the papers         /?paper=12  one paper
//   /?view=runs&project=1              the pipeline runs  /?run=7     one run
// Live updates come from the SSE stream; while it is unavailable the current view is polled every 2 s.

import {
  $,
  API,
  askForToken,
  hooks,
  mount,
  setToken,
  token,
  unmount,
  view,
} from "./core.js?v=__DASHBOARD_VERSION__";
import { paperView } from "./paper.js?v=__DASHBOARD_VERSION__";
import { papersView } from "./papers.js?v=__DASHBOARD_VERSION__";
import { runView } from "./run.js?v=__DASHBOARD_VERSION__";
import { runsView } from "./runs.js?v=__DASHBOARD_VERSION__";
import { taskDetail, taskList } from "./tasks.js?v=__DASHBOARD_VERSION__";

const POLL_MS = 2000; // without the stream
const SAFETY_MS = 15000; // with the stream: catches a store outage and anything missed
const STREAM_RETRY_MS = 30000; // after the stream refused us (absent, 401, ...)
const VIEWS = [taskDetail, paperView, runView, papersView, runsView, taskList]; // the first that matches
const NAV = { tasks: [taskList, taskDetail], papers: [papersView, paperView], runs: [runsView, runView] };

const state = {
  active: null,
  live: false,
  stream: null,
  streamKey: undefined,
  streamRetry: null,
  timer: null,
  soon: null,
};

// -- navigation ----------------------------------------------------------------------------------

function navigate(url, historyState = null) {
  history.pushState(historyState, "", url);
  route({ focus: true });
}

function route(options = {}) {
  const query = new URLSearchParams(location.search);
  const next = VIEWS.find((candidate) => candidate.matches(query));
  if (state.active && state.active !== next) unmount(state.active.section);
  const fresh = mount(next.section);
  state.active = next;
  view.seq += 1;
  updateNav(query);
  next.enter(query, fresh).then(() => options.focus && $(next.title).focus());
  schedule(); // polls until the stream is open, and keeps a slow safety refresh after
}

/** The header's links: the current view's, and the others in the same project when it has one. */
function updateNav(query = new URLSearchParams(location.search)) {
  const project = state.active.project(query);
  const urls = {
    tasks: project ? `/?project_id=${project}` : "/",
    papers: project ? `/?view=papers&project=${project}` : "/?view=papers",
    runs: project ? `/?view=runs&project=${project}` : "/?view=runs",
  };
  for (const [name, views] of Object.entries(NAV)) {
    const link = $(`nav-${name}`);
    link.href = urls[name];
    if (views.includes(state.active)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function refresh() {
  return state.active ? state.active.refresh() : Promise.resolve();
}

function refreshSoon() {
  if (state.soon) return;
  state.soon = setTimeout(() => {
    state.soon = null;
    refresh();
  }, 500);
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(
    async () => {
      try {
        await refresh();
      } finally {
        schedule();
      }
    },
    state.live && $("banner").hidden ? SAFETY_MS : POLL_MS,
  );
}

// -- live stream ---------------------------------------------------------------------------------

function setLive(live) {
  $("live").textContent = live ? "Live" : "Updating every 2 s";
  $("live").classList.toggle("on", live);
  if (live === state.live) return; // a stream retrying every 2 s must not starve the poll
  state.live = live;
  schedule();
}

function closeStream() {
  clearTimeout(state.streamRetry);
  if (state.stream) state.stream.close();
  state.stream = null;
  state.live = false; // poll until the next stream opens (the label stays until then)
}

/** Listen to the tasks matching `filters` ({} for all, null for none); the same filters keep the
 *  stream that is open. */
function listen(filters) {
  const key = filters === null ? null : new URLSearchParams(filters).toString();
  if (key === state.streamKey && (state.stream || key === null)) return;
  state.streamKey = key;
  openStream(filters);
}

function openStream(filters) {
  closeStream();
  if (filters === null || !("EventSource" in window)) return setLive(false);
  const query = new URLSearchParams(filters);
  if (token()) query.set("access_token", token());
  const source = new EventSource(`${API}/tasks/events?${query}`);
  state.stream = source;
  source.addEventListener("open", () => {
    if (state.stream !== source) return;
    setLive(true);
    refresh(); // whatever changed while we were not listening
  });
  source.addEventListener("task", (event) => {
    if (state.stream !== source) return;
    let task;
    try {
      task = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (task && typeof task.id === "number" && state.active) state.active.onTask(task);
  });
  source.addEventListener("reset", () => state.stream === source && refresh()); // missed too much
  source.addEventListener("error", () => {
    if (state.stream !== source) return;
    setLive(false); // poll while the stream reconnects or is unavailable
    if (source.readyState === EventSource.CLOSED) {
      state.stream = null;
      state.streamRetry = setTimeout(() => openStream(filters), STREAM_RETRY_MS);
    }
  });
}

// -- wiring --------------------------------------------------------------------------------------

function onNavClick(event) {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
}

function wireTokenDialog() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    $("token-dialog").close();
    setToken(value);
    $("token-button").hidden = false;
    state.streamKey = undefined; // the stream reopens with the new token
    route();
  });
  $("token-later").addEventListener("click", () => {
    view.tokenDeclined = true; // until the header's "API token" button is used
    $("token-dialog").close();
  });
  $("token-dialog").addEventListener("cancel", () => {
    view.tokenDeclined = true;
  });
  $("token-button").addEventListener("click", () => {
    view.tokenDeclined = false;
    askForToken(token() ? "Enter another token (for example one that may cancel)." : "");
  });
  $("token-button").hidden = !token();
}

function wire() {
  Object.assign(hooks, {
    navigate,
    refresh,
    refreshSoon,
    listen,
    isLive: () => state.live,
    nav: () => updateNav(),
  });
  document.addEventListener("click", onNavClick);
  window.addEventListener("popstate", () => route({ focus: true }));
  taskList.wire();
  taskDetail.wire();
  $("cancel-dialog").addEventListener("close", () => {
    $("cancel-confirm").onclick = null;
  });
  wireTokenDialog();
}

wire();
route();
