// The task views: the table (/?project_id=&status=&task_type=&cursor=) and one task (/?task=42).

import {
  $,
  ACTIVE,
  API,
  api,
  confirmCancel,
  current,
  h,
  hooks,
  post,
  readOnly,
  renderPager,
  setProgress,
  setStatus,
  shown,
  showMessage,
  view,
  wirePager,
} from "./core.js?v=__DASHBOARD_VERSION__";

const TASKS = `${API}/tasks`;
const LIST_KEYS = ["project_id", "status", "task_type", "limit", "cursor"];
const FILTER_KEYS = ["project_id", "status", "task_type"];
const PAGER = { newest: "page-newest", newer: "page-newer", older: "page-older", label: "page-label" };
const state = { rows: new Map(), nextCursor: null, detail: null, lastListUrl: "/" };

/** Ask before cancelling a task (from its row or its page). */
export function cancelTask(task) {
  confirmCancel({
    title: `Cancel task ${task.id}?`,
    question:
      `Task ${task.id} (${task.task_type}, project ${task.project_id}) is ${task.status}. ` +
      "Cancelling is final; a worker running it is told to stop.",
    confirm: "Cancel task",
    noun: "cancel",
    cancel: async () => {
      const answer = await post(`${TASKS}/${task.id}/cancel`);
      const extra = answer.body.message === "Task cancelled" ? "" : answer.body.message;
      return `Task ${task.id} cancelled. ${extra}`.trim();
    },
  });
}

// -- the table -----------------------------------------------------------------------------------

export const taskList = {
  section: "list-view",
  title: "list-title",
  matches: () => true,
  project: (query) => query.get("project_id"),
  enter(query) {
    state.rows.clear();
    $("tasks").tBodies[0].replaceChildren();
    state.lastListUrl = location.pathname + location.search;
    state.detail = null;
    document.title = "Tasks · taskapi";
    showFilters(query);
    hooks.listen(query.get("project_id") ? { project_id: query.get("project_id") } : {});
    return loadList();
  },
  refresh: () => loadList(),
  onTask(task) {
    const row = state.rows.get(task.id);
    if (row) updateRow(row, task);
    const filters = new URLSearchParams(location.search);
    const firstPage = !filters.get("cursor");
    const matches = FILTER_KEYS.every((key) => !filters.get(key) || String(task[key]) === filters.get(key));
    if (firstPage && (row ? !matches : matches)) hooks.refreshSoon(); // it joins or leaves this page
  },
  wire() {
    const form = $("filters");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (form.reportValidity()) applyFilters();
    });
    for (const name of ["status", "task_type", "limit"])
      form.elements[name].addEventListener("change", applyFilters);
    $("clear-filters").addEventListener("click", () => hooks.navigate("/"));
    wirePager(PAGER, () => state.nextCursor);
  },
};

function listQuery() {
  const current = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const key of LIST_KEYS) if (current.get(key)) query.set(key, current.get(key));
  if (!query.get("limit")) query.set("limit", "50");
  return query;
}

function showFilters(query) {
  const form = $("filters");
  for (const key of FILTER_KEYS) form.elements[key].value = query.get(key) || "";
  form.elements.limit.value = ["20", "50", "100"].includes(query.get("limit")) ? query.get("limit") : "50";
  const parts = [];
  if (query.get("project_id")) parts.push(`project ${query.get("project_id")}`);
  if (query.get("status")) parts.push(query.get("status"));
  if (query.get("task_type")) parts.push(`type ${query.get("task_type")}`);
  $("tasks-caption").textContent = parts.length
    ? `Tasks (${parts.join(", ")}), newest first`
    : "Tasks, newest first";
}

function applyFilters() {
  const form = $("filters");
  const query = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const value = form.elements[key].value.trim();
    if (value) query.set(key, value);
  }
  if (form.elements.limit.value !== "50") query.set("limit", form.elements.limit.value);
  hooks.navigate(query.toString() ? `/?${query}` : "/");
}

async function loadList() {
  const seq = view.seq;
  let answer;
  try {
    answer = await api(`${TASKS}?${listQuery()}`);
  } catch (error) {
    if (current(seq) && shown(error)) listMessage(error.message);
    return;
  }
  if (!current(seq)) return; // a newer view or load overtook this one
  state.nextCursor = answer.headers.get("X-Next-Cursor");
  renderRows(answer.body.data);
}

function listMessage(text, hint) {
  showMessage($("list-message"), text, hint);
  $("tasks").hidden = true;
}

function emptyHint() {
  const query = new URLSearchParams(location.search);
  if (query.get("cursor")) return ["No older tasks.", null];
  if (FILTER_KEYS.some((key) => query.get(key))) {
    const clear = h(
      "p",
      {},
      "Try other filters or ",
      h("a", { href: "/", "data-nav": true }, "show all tasks"),
      ".",
    );
    return ["No tasks match these filters.", clear];
  }
  const example =
    `curl -X POST ${location.origin}${TASKS} -H 'Content-Type: application/json' \\\n` +
    `     -d '{"project_id": 1, "task_type": "search", "params": {"query": "graphene"}}'`;
  const hint = h(
    "div",
    {},
    h("p", {}, "Create one through the API, for example:"),
    h("pre", {}, example),
    h(
      "p",
      {},
      "or with the command line: ",
      h("code", {}, `taskapi submit search --project 1 --params '{"query": "graphene"}'`),
    ),
  );
  return ["No tasks yet.", hint];
}

function renderRows(tasks) {
  const body = $("tasks").tBodies[0];
  if (tasks.length === 0) {
    body.replaceChildren();
    state.rows.clear();
    const [text, hint] = emptyHint();
    listMessage(text, hint);
  } else {
    $("list-message").hidden = true;
    $("tasks").hidden = false;
  }
  const seen = new Set();
  tasks.forEach((task, index) => {
    seen.add(task.id);
    let row = state.rows.get(task.id);
    if (!row) {
      row = makeRow(task);
      state.rows.set(task.id, row);
    }
    updateRow(row, task);
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
  });
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) {
      row.remove();
      state.rows.delete(id);
    }
  }
  renderPager(PAGER, state.nextCursor);
}

function makeRow(task) {
  const row = h(
    "tr",
    { "data-id": task.id },
    h(
      "td",
      {},
      h(
        "a",
        { href: `/?task=${task.id}`, "data-nav": true, "aria-label": `Task ${task.id}` },
        String(task.id),
      ),
    ),
    h("td", { className: "project" }),
    h("td", { className: "type" }),
    h("td", {}, h("span", { className: "status" })),
    h(
      "td",
      { className: "progress-cell" },
      h("progress", { "aria-label": `Progress of task ${task.id}` }),
      " ",
      h("span", { className: "progress-text" }),
    ),
    h("td", {}, h("time")),
    h(
      "td",
      {},
      h(
        "button",
        { type: "button", className: "cancel danger small", "aria-label": `Cancel task ${task.id}` },
        "Cancel",
      ),
    ),
  );
  row.querySelector("button.cancel").addEventListener("click", () => cancelTask(row.task));
  return row;
}

function updateRow(row, task) {
  row.task = { ...(row.task || {}), ...task };
  const task_ = row.task;
  row.querySelector(".project").textContent = task_.project_id;
  row.querySelector(".type").textContent = task_.task_type;
  setStatus(row.querySelector(".status"), task_.status);
  setProgress(row.querySelector("progress"), row.querySelector(".progress-text"), task_);
  const time = row.querySelector("time");
  time.textContent = task_.created_at;
  time.dateTime = `${task_.created_at}Z`;
  row.querySelector("button.cancel").hidden = !ACTIVE.has(task_.status) || readOnly();
}

// -- one task ------------------------------------------------------------------------------------

export const taskDetail = {
  section: "detail-view",
  title: "detail-title",
  matches: (query) => query.get("task") !== null,
  project: () => (state.detail && state.detail.project) || null,
  enter(query) {
    const taskId = query.get("task");
    $("back-link").href = state.lastListUrl;
    state.detail = { id: taskId, status: null, project: null };
    hooks.listen(/^\d+$/.test(taskId) ? { task_id: taskId } : null);
    return loadDetail(true);
  },
  refresh: () => (state.detail ? loadDetail(false) : Promise.resolve()),
  onTask(task) {
    if (!state.detail || String(task.id) !== state.detail.id) return;
    if (task.event === "progress") updateDetailProgress(task);
    else loadDetail(false);
  },
  wire() {},
};

async function loadDetail(first) {
  const detail = state.detail;
  const seq = view.seq;
  if (!/^\d+$/.test(detail.id)) return showMissing("Task not found.", `"${detail.id}" is not a task ID.`);
  $("detail-title").textContent = `Task ${detail.id}`;
  document.title = `Task ${detail.id} · taskapi`;
  let answer;
  try {
    answer = await api(`${TASKS}/${detail.id}`);
  } catch (error) {
    if (!current(seq)) return;
    if (error.status === 404 || error.status === 400) showMissing("Task not found.", error.message);
    else if (first && shown(error)) showMissing("Cannot show this task.", error.message);
    return;
  }
  if (!current(seq)) return;
  const task = answer.body.data;
  const changed = task.status !== detail.status;
  detail.status = task.status;
  detail.project = String(task.project_id);
  renderDetail(task);
  if (first || changed || !hooks.isLive()) loadTimeline(detail.id, seq);
}

function showMissing(title, message) {
  $("detail-body").hidden = true;
  const back = h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to all tasks"));
  showMessage($("detail-missing"), title, h("p", {}, message), back);
}

function renderDetail(task) {
  $("detail-missing").hidden = true;
  $("detail-body").hidden = false;
  setStatus($("d-status"), task.status);
  $("d-type").textContent = task.task_type;
  $("d-project").textContent = task.project_id;
  updateDetailProgress(task);
  $("d-created").textContent = task.created_at;
  $("d-started").textContent = task.started_at || "—";
  $("d-completed").textContent = task.completed_at || "—";
  $("d-params").textContent = JSON.stringify(task.params, null, 2);
  $("d-result").textContent = task.result === null ? "No result." : JSON.stringify(task.result, null, 2);
  $("d-error").textContent = task.error_message || "No error.";
  $("d-error").classList.toggle("has-error", Boolean(task.error_message));
  const cancel = $("detail-cancel");
  cancel.hidden = !ACTIVE.has(task.status) || readOnly();
  cancel.onclick = () => cancelTask(task);
}

function updateDetailProgress(task) {
  if (task.status) setStatus($("d-status"), task.status);
  setProgress($("d-progress"), $("d-progress-text"), task);
}

async function loadTimeline(id, seq) {
  let answer = null;
  try {
    answer = await api(`${TASKS}/${id}/events`);
  } catch (error) {
    answer = null; // not there (404: no timeline in this version, or pruned): say so, nothing more
  }
  if (!current(seq)) return;
  const list = $("d-timeline");
  const events = answer && Array.isArray(answer.body.data) ? answer.body.data : [];
  list.replaceChildren(...events.map(timelineItem));
  list.hidden = events.length === 0;
  $("d-no-timeline").hidden = events.length !== 0;
}

function timelineItem(event) {
  const time = h("time", { dateTime: `${event.at}Z` }, event.at);
  const item = h("li", {}, time, " ", h("strong", {}, event.kind));
  const extra = [];
  if (event.attempt) extra.push(`attempt ${event.attempt}`);
  if (event.actor) extra.push(`by ${event.actor}`);
  if (extra.length) item.append(` (${extra.join(", ")})`);
  if (event.detail) item.append(`: ${event.detail}`);
  return item;
}
