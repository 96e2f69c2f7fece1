// The taskapi dashboard: a reference client of the public Task API, in plain JavaScript.
// Views are picked by the query string (/?task=42 is a detail, anything else the table), so every
// view can be shared and reloaded. Live updates come from the SSE stream; while it is unavailable
// the current view is polled every 2 s instead.
"use strict";

(() => {
  const API = "/api/v1/tasks";
  const TOKEN_KEY = "taskapi.token";
  const READ_ONLY_KEY = "taskapi.readOnly";
  const POLL_MS = 2000; // without the stream
  const SAFETY_MS = 15000; // with the stream: catches a store outage and anything missed
  const STREAM_RETRY_MS = 30000; // after the stream refused us (absent, 401, ...)
  const LIST_KEYS = ["project_id", "status", "task_type", "limit", "cursor"];
  const ACTIVE = new Set(["pending", "running"]);

  const $ = (id) => document.getElementById(id);
  const state = {
    seq: 0,
    live: false,
    stream: null,
    streamRetry: null,
    timer: null,
    refreshSoon: null,
    rows: new Map(),
    nextCursor: null,
    detail: null,
    tokenDeclined: false,
    lastListUrl: "/",
  };

  // -- the API -------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function readOnly() {
    return sessionStorage.getItem(READ_ONLY_KEY) === "1";
  }

  async function api(path, options = {}) {
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

  function showBanner(text) {
    const banner = $("banner");
    banner.textContent = text;
    banner.hidden = false;
  }

  function hideBanner() {
    $("banner").hidden = true;
  }

  // -- token ---------------------------------------------------------------------------------------

  function askForToken(reason) {
    $("token-button").hidden = false;
    const dialog = $("token-dialog");
    if (dialog.open || state.tokenDeclined) return;
    $("token-reason").textContent = reason || "This server needs an API token.";
    $("token-input").value = "";
    dialog.showModal();
  }

  function useToken(value) {
    sessionStorage.setItem(TOKEN_KEY, value);
    sessionStorage.removeItem(READ_ONLY_KEY);
    state.tokenDeclined = false;
    $("token-button").hidden = false;
    route();
  }

  // -- navigation ----------------------------------------------------------------------------------

  function navigate(url, historyState = null) {
    history.pushState(historyState, "", url);
    route({ focus: true });
  }

  function route(options = {}) {
    const query = new URLSearchParams(location.search);
    const taskId = query.get("task");
    state.seq += 1;
    state.rows.clear();
    $("tasks").tBodies[0].replaceChildren();
    $("list-view").hidden = taskId !== null;
    $("detail-view").hidden = taskId === null;
    if (taskId === null) {
      state.lastListUrl = location.pathname + location.search;
      state.detail = null;
      document.title = "Tasks · taskapi";
      showFilters(query);
      openStream(query.get("project_id") ? { project_id: query.get("project_id") } : {});
      loadList().then(() => options.focus && $("list-title").focus());
    } else {
      $("back-link").href = state.lastListUrl;
      state.detail = { id: taskId, status: null };
      openStream(/^\d+$/.test(taskId) ? { task_id: taskId } : null);
      loadDetail(true).then(() => options.focus && $("detail-title").focus());
    }
    schedule(); // polls until the stream is open, and keeps a slow safety refresh after
  }

  function refresh() {
    if (!$("detail-view").hidden && state.detail) return loadDetail(false);
    if (!$("list-view").hidden) return loadList();
    return Promise.resolve();
  }

  function refreshSoon() {
    if (state.refreshSoon) return;
    state.refreshSoon = setTimeout(() => {
      state.refreshSoon = null;
      refresh();
    }, 500);
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      try {
        await refresh();
      } finally {
        schedule();
      }
    }, state.live && $("banner").hidden ? SAFETY_MS : POLL_MS);
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

  function openStream(filters) {
    closeStream();
    if (filters === null || !("EventSource" in window)) return setLive(false);
    const query = new URLSearchParams(filters);
    if (token()) query.set("access_token", token());
    const source = new EventSource(`${API}/events?${query}`);
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
      onTaskEvent(task);
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

  function onTaskEvent(task) {
    if (!task || typeof task.id !== "number") return;
    if (state.detail) {
      if (String(task.id) !== state.detail.id) return;
      if (task.event === "progress") updateDetailProgress(task);
      else loadDetail(false);
      return;
    }
    const row = state.rows.get(task.id);
    if (row) updateRow(row, task);
    const filters = new URLSearchParams(location.search);
    const firstPage = !filters.get("cursor");
    const matches = ["project_id", "status", "task_type"].every(
      (key) => !filters.get(key) || String(task[key]) === filters.get(key),
    );
    if (firstPage && (row ? !matches : matches)) refreshSoon(); // it joins or leaves this page
  }

  // -- the table -----------------------------------------------------------------------------------

  function listQuery() {
    const current = new URLSearchParams(location.search);
    const query = new URLSearchParams();
    for (const key of LIST_KEYS) if (current.get(key)) query.set(key, current.get(key));
    if (!query.get("limit")) query.set("limit", "50");
    return query;
  }

  function showFilters(query) {
    const form = $("filters");
    for (const key of ["project_id", "status", "task_type"]) form.elements[key].value = query.get(key) || "";
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
    for (const key of ["project_id", "status", "task_type"]) {
      const value = form.elements[key].value.trim();
      if (value) query.set(key, value);
    }
    if (form.elements.limit.value !== "50") query.set("limit", form.elements.limit.value);
    navigate(query.toString() ? `/?${query}` : "/");
  }

  async function loadList() {
    const seq = state.seq;
    let answer;
    try {
      answer = await api(`${API}?${listQuery()}`);
    } catch (error) {
      if (seq === state.seq && error.status !== 503 && error.status !== 0) listMessage(error.message);
      return;
    }
    if (seq !== state.seq) return; // a newer view or load overtook this one
    state.nextCursor = answer.headers.get("X-Next-Cursor");
    renderRows(answer.body.data);
  }

  function listMessage(text, hint) {
    const box = $("list-message");
    box.replaceChildren();
    const line = document.createElement("p");
    line.className = "lead";
    line.textContent = text;
    box.append(line);
    if (hint) box.append(hint);
    box.hidden = false;
    $("tasks").hidden = true;
  }

  function emptyHint() {
    const query = new URLSearchParams(location.search);
    if (query.get("cursor")) return ["No older tasks.", null];
    if (["project_id", "status", "task_type"].some((key) => query.get(key))) {
      const clear = document.createElement("p");
      clear.innerHTML = 'Try other filters or <a href="/" data-nav>show all tasks</a>.';
      return ["No tasks match these filters.", clear];
    }
    const hint = document.createElement("div");
    hint.innerHTML =
      "<p>Create one through the API, for example:</p>" +
      "<pre></pre>" +
      "<p>or with the command line: <code>taskapi submit search --project 1 --params '{\"query\": \"graphene\"}'</code></p>";
    hint.querySelector("pre").textContent =
      `curl -X POST ${location.origin}${API} -H 'Content-Type: application/json' \\\n` +
      `     -d '{"project_id": 1, "task_type": "search", "params": {"query": "graphene"}}'`;
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
    renderPager();
  }

  function makeRow(task) {
    const row = document.createElement("tr");
    row.dataset.id = task.id;
    row.innerHTML =
      '<td><a data-nav></a></td><td class="project"></td><td class="type"></td>' +
      '<td><span class="status"></span></td>' +
      '<td class="progress-cell"><progress></progress> <span class="progress-text"></span></td>' +
      '<td><time></time></td>' +
      '<td><button type="button" class="cancel danger small">Cancel</button></td>';
    const link = row.querySelector("a");
    link.href = `/?task=${task.id}`;
    link.textContent = task.id;
    link.setAttribute("aria-label", `Task ${task.id}`);
    row.querySelector("progress").setAttribute("aria-label", `Progress of task ${task.id}`);
    const cancel = row.querySelector("button.cancel");
    cancel.setAttribute("aria-label", `Cancel task ${task.id}`);
    cancel.addEventListener("click", () => confirmCancel(row.task));
    return row;
  }

  function updateRow(row, task) {
    row.task = { ...(row.task || {}), ...task };
    const current = row.task;
    row.querySelector(".project").textContent = current.project_id;
    row.querySelector(".type").textContent = current.task_type;
    setStatus(row.querySelector(".status"), current.status);
    setProgress(row.querySelector("progress"), row.querySelector(".progress-text"), current);
    const time = row.querySelector("time");
    time.textContent = current.created_at;
    time.dateTime = `${current.created_at}Z`;
    row.querySelector("button.cancel").hidden = !ACTIVE.has(current.status) || readOnly();
  }

  function setStatus(element, status) {
    element.textContent = status;
    element.className = `status status-${status}`;
  }

  function setProgress(bar, text, task) {
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

  function renderPager() {
    const back = (history.state && history.state.back) || [];
    const cursor = new URLSearchParams(location.search).get("cursor");
    $("page-newest").disabled = !cursor;
    $("page-newer").disabled = back.length === 0;
    $("page-older").disabled = !state.nextCursor;
    $("page-label").textContent = cursor ? `Page ${back.length + 1}` : "Page 1";
  }

  function pageUrl(cursor) {
    const query = new URLSearchParams(location.search);
    if (cursor) query.set("cursor", cursor);
    else query.delete("cursor");
    return query.toString() ? `/?${query}` : "/";
  }

  // -- the detail ----------------------------------------------------------------------------------

  async function loadDetail(first) {
    const detail = state.detail;
    const seq = state.seq;
    if (!/^\d+$/.test(detail.id)) return showMissing("Task not found.", `"${detail.id}" is not a task ID.`);
    $("detail-title").textContent = `Task ${detail.id}`;
    document.title = `Task ${detail.id} · taskapi`;
    let answer;
    try {
      answer = await api(`${API}/${detail.id}`);
    } catch (error) {
      if (seq !== state.seq) return;
      if (error.status === 404 || error.status === 400) showMissing("Task not found.", error.message);
      else if (first && error.status !== 503 && error.status !== 0) showMissing("Cannot show this task.", error.message);
      return;
    }
    if (seq !== state.seq) return;
    const task = answer.body.data;
    const changed = task.status !== detail.status;
    detail.status = task.status;
    renderDetail(task);
    if (first || changed || !state.live) loadTimeline(detail.id, seq);
  }

  function showMissing(title, message) {
    $("detail-body").hidden = true;
    const box = $("detail-missing");
    box.replaceChildren();
    const lead = document.createElement("p");
    lead.className = "lead";
    lead.textContent = title;
    const why = document.createElement("p");
    why.textContent = message;
    const back = document.createElement("p");
    back.innerHTML = '<a href="/" data-nav>Back to all tasks</a>';
    box.append(lead, why, back);
    box.hidden = false;
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
    cancel.onclick = () => confirmCancel(task);
  }

  function updateDetailProgress(task) {
    if (task.status) setStatus($("d-status"), task.status);
    setProgress($("d-progress"), $("d-progress-text"), task);
  }

  async function loadTimeline(id, seq) {
    let answer = null;
    try {
      answer = await api(`${API}/${id}/events`);
    } catch (error) {
      answer = null; // not there (404: no timeline in this version, or pruned): say so, nothing more
    }
    if (seq !== state.seq) return;
    const list = $("d-timeline");
    const events = answer && Array.isArray(answer.body.data) ? answer.body.data : [];
    list.replaceChildren(...events.map(timelineItem));
    list.hidden = events.length === 0;
    $("d-no-timeline").hidden = events.length !== 0;
  }

  function timelineItem(event) {
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = event.at;
    time.dateTime = `${event.at}Z`;
    const kind = document.createElement("strong");
    kind.textContent = event.kind;
    item.append(time, " ", kind);
    const extra = [];
    if (event.attempt) extra.push(`attempt ${event.attempt}`);
    if (event.actor) extra.push(`by ${event.actor}`);
    if (extra.length) item.append(` (${extra.join(", ")})`);
    if (event.detail) item.append(`: ${event.detail}`);
    return item;
  }

  // -- cancel --------------------------------------------------------------------------------------

  function confirmCancel(task) {
    const dialog = $("cancel-dialog");
    $("cancel-title").textContent = `Cancel task ${task.id}?`;
    $("cancel-question").textContent =
      `Task ${task.id} (${task.task_type}, project ${task.project_id}) is ${task.status}. ` +
      "Cancelling is final; a worker running it is told to stop.";
    const result = $("cancel-result");
    result.textContent = "";
    result.className = "";
    $("cancel-keep").hidden = false;
    $("cancel-confirm").hidden = false;
    $("cancel-confirm").disabled = false;
    $("cancel-close").hidden = true;
    $("cancel-confirm").onclick = () => cancelTask(task.id);
    dialog.showModal();
  }

  async function cancelTask(id) {
    const result = $("cancel-result");
    $("cancel-confirm").disabled = true;
    result.textContent = "Cancelling…";
    try {
      const answer = await api(`${API}/${id}/cancel`, { method: "POST" });
      result.textContent = `Task ${id} cancelled. ${answer.body.message === "Task cancelled" ? "" : answer.body.message}`.trim();
      result.className = "ok";
    } catch (error) {
      if (error.status === 403) {
        sessionStorage.setItem(READ_ONLY_KEY, "1");
        result.textContent =
          `${error.message}. This token may only read, so cancel buttons are now hidden; ` +
          'use "API token" to enter one that may operate.';
      } else {
        result.textContent = error.message;
      }
      result.className = "error";
    }
    $("cancel-keep").hidden = true;
    $("cancel-confirm").hidden = true;
    $("cancel-close").hidden = false;
    $("cancel-close").focus();
    refresh();
  }

  // -- wiring --------------------------------------------------------------------------------------

  function onNavClick(event) {
    const link = event.target.closest("a[data-nav]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  }

  function wire() {
    document.addEventListener("click", onNavClick);
    window.addEventListener("popstate", () => route({ focus: true }));
    const form = $("filters");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (form.reportValidity()) applyFilters();
    });
    for (const name of ["status", "task_type", "limit"]) form.elements[name].addEventListener("change", applyFilters);
    $("clear-filters").addEventListener("click", () => navigate("/"));
    $("page-newest").addEventListener("click", () => navigate(pageUrl(null), { back: [] }));
    $("page-older").addEventListener("click", () => {
      const back = [...((history.state && history.state.back) || [])];
      back.push(new URLSearchParams(location.search).get("cursor") || "");
      navigate(pageUrl(state.nextCursor), { back });
    });
    $("page-newer").addEventListener("click", () => {
      const back = [...((history.state && history.state.back) || [])];
      const previous = back.pop();
      navigate(pageUrl(previous), { back });
    });
    $("cancel-dialog").addEventListener("close", () => {
      $("cancel-confirm").onclick = null;
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      $("token-dialog").close();
      useToken(value);
    });
    $("token-later").addEventListener("click", () => {
      state.tokenDeclined = true; // until the header's "API token" button is used
      $("token-dialog").close();
    });
    $("token-dialog").addEventListener("cancel", () => {
      state.tokenDeclined = true;
    });
    $("token-button").addEventListener("click", () => {
      state.tokenDeclined = false;
      askForToken(token() ? "Enter another token (for example one that may cancel)." : "");
    });
    $("token-button").hidden = !token();
  }

  wire();
  route();
})();
