// Pipeline runs (/?view=runs&project=1): start one, open one by its ID, and the newest runs with their
// steps' live bars.

import {
  $,
  API,
  ACTIVE,
  api,
  confirmCancel,
  current,
  h,
  hooks,
  navLink,
  post,
  readOnly,
  refusal,
  setProgress,
  setStatus,
  shown,
  showMessage,
  view,
} from "./core.js?v=__DASHBOARD_VERSION__";

export const RUNS = `${API}/pipelines`;
const TASKS = `${API}/tasks`;
const LIST_LIMIT = 50;
// bars: by task id, for the stream's events; elements: each step's bar and text by "run/index", kept
// across renders so that a bar (and whoever watches it) stays the same element while it moves
// shown: what the list shows apart from the bars' progress (see `renderKey`)
const state = {
  bars: new Map(),
  elements: new Map(),
  shown: null,
  lastListUrl: "/?view=runs",
};

export const runsUrl = () => state.lastListUrl;

// -- shared by the list and a run's page -------------------------------------------------------------

/** A step's state for display: its task's (fresher, with progress) when known, else the run's word. */
export function stepTask(step, tasks) {
  const task = step.task_id ? tasks.get(step.task_id) : null;
  return { status: step.status || "waiting", ...(task || {}), id: step.task_id };
}

/** The bar and its text of step `index` of run `runId`, registered so the stream's progress events
 *  move it. */
export function stepBar(runId, index, step, task) {
  const key = `${runId}/${index}`;
  let parts = state.elements.get(key);
  if (!parts) {
    parts = {
      bar: h("progress", { "aria-label": `Progress of ${step.task_type} in run ${runId}` }),
      text: h("span", { className: "progress-text" }),
    };
    state.elements.set(key, parts);
  }
  setProgress(parts.bar, parts.text, task);
  if (task.id) state.bars.set(task.id, { ...parts, task });
  return [parts.bar, parts.text];
}

/** What a render of `runs` shows apart from the bars' progress: while it stays the same, a refresh
 *  only moves the bars, and the links and buttons (and the focus on one) stay. */
export function renderKey(runs, tasks) {
  const statuses = [...tasks.values()].map((task) => [task.id, task.status]);
  return JSON.stringify([runs, statuses, readOnly()]);
}

/** Move the bars of the runs' steps to their tasks' progress. */
export function moveBars(runs, tasks) {
  for (const run of runs)
    run.steps.forEach((step, index) => stepBar(run.id, index, step, stepTask(step, tasks)));
}

/** Before a render: which bars the stream moves is decided anew; `forget` drops the elements too
 *  (a new view). */
export function clearBars(forget = false) {
  state.bars.clear();
  if (forget) state.elements.clear();
}

/** A progress or status event: move the step's bar; a change of status may create the next step. */
export function onStepEvent(task) {
  const known = state.bars.get(task.id);
  if (known) {
    known.task = { ...known.task, ...task };
    setProgress(known.bar, known.text, known.task);
  }
  if (task.event !== "progress") hooks.refreshSoon();
}

export function cancelRun(run) {
  const inFlight = run.steps.find((step) => step.task_id && ACTIVE.has(step.status));
  const where = inFlight
    ? ` Its ${inFlight.task_type} step (task ${inFlight.task_id}) is ${inFlight.status}.`
    : "";
  confirmCancel({
    title: `Cancel run ${run.id}?`,
    question:
      `Run ${run.id} (project ${run.project_id}) is ${run.status}.${where} ` +
      "Cancelling stops the step in flight and starts no more; it is final.",
    confirm: "Cancel run",
    noun: "cancel",
    cancel: async () => {
      await post(`${RUNS}/${run.id}/cancel`);
      return `Run ${run.id} cancelled.`;
    },
  });
}

export const runActive = (run) => ACTIVE.has(run.status);

// -- the list --------------------------------------------------------------------------------------

export const runsView = {
  section: "runs-view",
  title: "runs-title",
  matches: (query) => query.get("view") === "runs",
  project: (query) => query.get("project"),
  enter(query, fresh) {
    if (fresh) wire();
    state.lastListUrl = location.pathname + location.search;
    document.title = "Runs · taskapi";
    const project = query.get("project");
    $("run-form").elements.project_id.value = project || $("run-form").elements.project_id.value;
    $("runs-caption").textContent = project
      ? `Runs of project ${project}, newest first`
      : "Runs, newest first";
    $("run-start").hidden = readOnly();
    clearBars(true);
    state.shown = null;
    hooks.listen(project ? { project_id: project } : {});
    return loadRuns();
  },
  refresh: () => loadRuns(),
  onTask: onStepEvent,
};

function wire() {
  $("run-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if ($("run-form").reportValidity()) startRun();
  });
  $("run-open").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("run-open").elements.run.value.trim();
    if ($("run-open").reportValidity() && id) hooks.navigate(`/?run=${encodeURIComponent(id)}`);
  });
}

function runRequest() {
  const form = $("run-form");
  const checked = (name) =>
    [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);
  const body = {
    project_id: Number(form.elements.project_id.value),
    steps: checked("steps"),
    sources: checked("sources"),
    limit: Number(form.elements.limit.value || 100),
  };
  const query = form.elements.query.value.trim();
  if (query) body.query = query;
  return body;
}

async function startRun() {
  const message = $("run-form-message");
  message.hidden = true;
  $("run-submit").disabled = true;
  try {
    const answer = await post(RUNS, runRequest());
    hooks.navigate(`/?run=${answer.body.data.id}`);
  } catch (error) {
    if (shown(error))
      showMessage(message, "The run was not started.", h("p", {}, refusal(error, "start and cancel")));
    if (error.status === 403) $("run-start").hidden = true;
  } finally {
    if ($("run-submit")) $("run-submit").disabled = false; // gone if the page moved to the run
  }
}

/** The newest runs (of the project), each with its steps. */
async function listedRuns(project) {
  const query = new URLSearchParams({ limit: LIST_LIMIT });
  if (project) query.set("project_id", project);
  const answer = await api(`${RUNS}?${query}`);
  return Array.isArray(answer.body.data) ? answer.body.data : [];
}

/** The running tasks, for the progress of the runs' steps in flight: one request, not one per step. */
async function runningTasks(project) {
  const query = new URLSearchParams({ status: "running", limit: 1000 });
  if (project) query.set("project_id", project);
  const answer = await api(`${TASKS}?${query}`);
  return new Map((answer.body.data || []).map((task) => [task.id, task]));
}

async function loadRuns() {
  const seq = view.seq;
  const project = new URLSearchParams(location.search).get("project");
  let runs;
  let tasks;
  try {
    runs = await listedRuns(project);
    tasks = runs.some(runActive) ? await runningTasks(project) : new Map();
  } catch (error) {
    if (current(seq) && shown(error)) showMessage($("runs-message"), error.message);
    return;
  }
  if (current(seq)) renderRuns(runs, tasks);
}

function renderRuns(runs, tasks) {
  const key = renderKey(runs, tasks);
  if (key === state.shown) return moveBars(runs, tasks);
  state.shown = key;
  clearBars();
  const table = $("runs");
  if (runs.length === 0) {
    table.hidden = true;
    const project = new URLSearchParams(location.search).get("project");
    const none = project ? `No runs in project ${project} yet.` : "No runs yet.";
    const how = "Start one above, or with the command line: ";
    showMessage(
      $("runs-message"),
      none,
      h("p", {}, how, h("code", {}, `taskapi pipeline run --project ${project || 1} --query "..."`)),
    );
    return;
  }
  $("runs-message").hidden = true;
  table.hidden = false;
  table.tBodies[0].replaceChildren(...runs.map((run) => runRow(run, tasks)));
}

function runRow(run, tasks) {
  const status = h("span");
  setStatus(status, run.status);
  const cancel = h(
    "button",
    { type: "button", className: "danger small", "aria-label": `Cancel run ${run.id}` },
    "Cancel",
  );
  cancel.hidden = !runActive(run) || readOnly();
  cancel.addEventListener("click", () => cancelRun(run));
  return h(
    "tr",
    { "data-id": run.id },
    h("td", {}, navLink(`/?run=${run.id}`, `Run ${run.id}`)),
    h("td", {}, String(run.project_id)),
    h("td", { className: "query" }, run.query || "—"),
    h("td", {}, status),
    h("td", {}, stepStrip(run, tasks)),
    h("td", {}, run.created_at ? h("time", { dateTime: `${run.created_at}Z` }, run.created_at) : "—"),
    h("td", {}, cancel),
  );
}

function stepStrip(run, tasks) {
  const items = run.steps.map((step, index) => {
    const task = stepTask(step, tasks);
    const name = task.id
      ? navLink(`/?task=${task.id}`, step.task_type, {
          "aria-label": `Task ${task.id}: ${step.task_type} of run ${run.id}`,
        })
      : h("span", { className: "muted" }, step.task_type);
    const [bar] = stepBar(run.id, index, step, task);
    return h(
      "li",
      { className: `step step-${task.status}`, title: `${step.task_type}: ${task.status}` },
      name,
      bar,
    );
  });
  return h("ol", { className: "steps", "aria-label": `Steps of run ${run.id}` }, items);
}
