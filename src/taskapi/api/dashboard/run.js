// One pipeline run (/?run=7): its status, and each step with its task and a live bar.

import {
  $,
  API,
  api,
  current,
  h,
  hooks,
  navLink,
  readOnly,
  setStatus,
  shown,
  showMessage,
  view,
} from "./core.js?v=__DASHBOARD_VERSION__";
import {
  RUNS,
  moveBars,
  renderKey,
  cancelRun,
  clearBars,
  onStepEvent,
  runActive,
  runsUrl,
  stepBar,
  stepTask,
} from "./runs.js?v=__DASHBOARD_VERSION__";

const TASKS = `${API}/tasks`;
const state = { id: null, run: null, shown: null }; // shown: see renderKey

export const runView = {
  section: "run-view",
  title: "run-title",
  matches: (query) => query.get("run") !== null,
  project: () => (state.run ? String(state.run.project_id) : null),
  enter(query) {
    state.id = query.get("run");
    state.run = null;
    state.shown = null;
    clearBars(true);
    $("run-back").href = runsUrl();
    return load(true);
  },
  refresh: () => load(false),
  onTask: onStepEvent,
};

async function load(first) {
  const seq = view.seq;
  const id = state.id;
  if (!/^\d+$/.test(id)) return missing("Run not found.", `"${id}" is not a run ID.`);
  $("run-title").textContent = `Run ${id}`;
  document.title = `Run ${id} · taskapi`;
  let run;
  let tasks;
  try {
    run = (await api(`${RUNS}/${id}`)).body.data;
    tasks = await stepTasks(run);
  } catch (error) {
    if (!current(seq)) return;
    if (error.status === 404 || error.status === 400) missing("Run not found.", error.message);
    else if (first && shown(error)) missing("Cannot show this run.", error.message);
    return;
  }
  if (!current(seq)) return;
  if (!state.run) hooks.listen({ project_id: run.project_id }); // its steps are tasks of its project
  state.run = run;
  const key = renderKey([run], tasks);
  if (key === state.shown) moveBars([run], tasks);
  else render(run, tasks);
  state.shown = key;
  hooks.nav();
}

/** Each created step's task (for its progress), at most one request per step. */
async function stepTasks(run) {
  const ids = run.steps.map((step) => step.task_id).filter(Boolean);
  const answers = await Promise.all(
    ids.map((id) =>
      api(`${TASKS}/${id}`).then(
        (answer) => answer.body.data,
        () => null,
      ),
    ),
  );
  return new Map(answers.filter(Boolean).map((task) => [task.id, task]));
}

function missing(title, message) {
  $("run-body").hidden = true;
  showMessage(
    $("run-missing"),
    title,
    h("p", {}, message),
    h("p", {}, navLink("/?view=runs", "Back to the runs")),
  );
}

function render(run, tasks) {
  $("run-missing").hidden = true;
  $("run-body").hidden = false;
  setStatus($("r-status"), run.status);
  $("r-project").replaceChildren(
    navLink(`/?project_id=${run.project_id}`, `Project ${run.project_id}`),
    " (",
    navLink(`/?view=papers&project=${run.project_id}`, "its papers"),
    ")",
  );
  $("r-query").textContent = run.query || "—";
  $("r-created").textContent = run.created_at || "—";
  $("r-ended").textContent = run.ended_at || "—";
  const reason = [run.failed_step && `the ${run.failed_step} step failed`, run.error]
    .filter(Boolean)
    .join(": ");
  $("r-reason").textContent = reason || "—";
  $("r-reason").classList.toggle("has-error", run.status === "failed");
  const cancel = $("run-cancel");
  cancel.hidden = !runActive(run) || readOnly();
  cancel.onclick = () => cancelRun(run);
  clearBars();
  $("run-steps").tBodies[0].replaceChildren(
    ...run.steps.map((step, index) => stepRow(run, step, index, tasks)),
  );
}

function stepRow(run, step, index, tasks) {
  const task = stepTask(step, tasks);
  const status = h("span");
  setStatus(status, task.status);
  const link = task.id
    ? navLink(`/?task=${task.id}`, `Task ${task.id}`)
    : h("span", { className: "muted" }, "not created yet");
  return h(
    "tr",
    { "data-step": step.task_type },
    h("td", {}, String(index + 1)),
    h("td", {}, step.task_type),
    h("td", {}, link),
    h("td", {}, status),
    h("td", { className: "progress-cell" }, ...stepBar(run.id, index, step, task)),
  );
}
