// The library of a project (/?view=papers&project=1&q=...&include_duplicates=true&cursor=): newest
// first, or with a search, best match first with the API's score and snippet.

import {
  $,
  API,
  api,
  current,
  h,
  hooks,
  navLink,
  renderPager,
  shown,
  showMessage,
  view,
  wirePager,
  withToken,
} from "./core.js?v=__DASHBOARD_VERSION__";

export const PAPERS = `${API}/papers`;
const PAGER = {
  newest: "papers-newest",
  newer: "papers-newer",
  older: "papers-older",
  label: "papers-label",
};
const LIMITS = ["20", "50", "100"];
// the steps after which the library has changed: the list reloads when one completes
const LIBRARY_STEPS = new Set(["search", "dedup", "crawl", "ocr", "index"]);
// shown: what the table shows, so a refresh that brings nothing new leaves it (and the focus) alone
const state = { shown: null, nextCursor: null, lastListUrl: "/?view=papers" };

/** Where "← Papers" leads back to: the last list shown, else the project's list. */
export function papersUrl(project) {
  const last = new URLSearchParams(state.lastListUrl.replace(/^\/\?/, ""));
  if (!project || last.get("project") === String(project)) return state.lastListUrl;
  return `/?view=papers&project=${project}`;
}

export const papersView = {
  section: "papers-view",
  title: "papers-title",
  matches: (query) => query.get("view") === "papers",
  project: (query) => query.get("project"),
  enter(query, fresh) {
    if (fresh) wire();
    state.shown = null;
    $("papers").tBodies[0].replaceChildren();
    state.lastListUrl = location.pathname + location.search;
    document.title = "Papers · taskapi";
    showForm(query);
    hooks.listen(query.get("project") ? { project_id: query.get("project") } : {});
    return loadList();
  },
  refresh: () => loadList(),
  onTask(task) {
    const firstPage = !new URLSearchParams(location.search).get("cursor");
    if (firstPage && task.event === "completed" && LIBRARY_STEPS.has(task.task_type)) hooks.refreshSoon();
  },
};

function wire() {
  const form = $("papers-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.reportValidity()) applyForm();
  });
  for (const name of ["include_duplicates", "limit"])
    form.elements[name].addEventListener("change", applyForm);
  $("papers-clear").addEventListener("click", () => {
    const project = form.elements.project.value.trim();
    hooks.navigate(project ? `/?view=papers&project=${encodeURIComponent(project)}` : "/?view=papers");
  });
  wirePager(PAGER, () => state.nextCursor);
}

function showForm(query) {
  const form = $("papers-form");
  form.elements.project.value = query.get("project") || "";
  form.elements.q.value = query.get("q") || "";
  form.elements.include_duplicates.checked = query.get("include_duplicates") === "true";
  form.elements.limit.value = LIMITS.includes(query.get("limit")) ? query.get("limit") : "50";
  const project = query.get("project")
    ? `Papers of project ${query.get("project")}`
    : "Papers of every project";
  const order = query.get("q") ? `best match first for “${query.get("q")}”` : "newest first";
  $("papers-caption").textContent = `${project}, ${order}`;
  $("papers").classList.toggle("scored", Boolean(query.get("q")));
  $("papers").classList.toggle("with-duplicates", query.get("include_duplicates") === "true");
}

function applyForm() {
  const form = $("papers-form");
  const query = new URLSearchParams({ view: "papers" });
  const project = form.elements.project.value.trim();
  const q = form.elements.q.value.trim();
  if (project) query.set("project", project);
  if (q) query.set("q", q);
  if (form.elements.include_duplicates.checked) query.set("include_duplicates", "true");
  if (form.elements.limit.value !== "50") query.set("limit", form.elements.limit.value);
  hooks.navigate(`/?${query}`);
}

function listQuery() {
  const shown = new URLSearchParams(location.search);
  const query = new URLSearchParams({
    limit: LIMITS.includes(shown.get("limit")) ? shown.get("limit") : "50",
  });
  if (shown.get("project")) query.set("project_id", shown.get("project"));
  for (const key of ["q", "cursor"]) if (shown.get(key)) query.set(key, shown.get(key));
  if (shown.get("include_duplicates") === "true") query.set("include_duplicates", "true");
  return query;
}

async function loadList() {
  const seq = view.seq;
  let answer;
  try {
    answer = await api(`${PAPERS}?${listQuery()}`);
  } catch (error) {
    if (current(seq) && shown(error)) listMessage(error.message);
    return;
  }
  if (!current(seq)) return;
  state.nextCursor = answer.headers.get("X-Next-Cursor");
  renderRows(Array.isArray(answer.body.data) ? answer.body.data : []);
}

function listMessage(text, ...hints) {
  showMessage($("papers-message"), text, ...hints);
  $("papers").hidden = true;
}

function emptyMessage() {
  const query = new URLSearchParams(location.search);
  const project = query.get("project");
  if (query.get("cursor")) return listMessage("No more papers.");
  if (query.get("q")) {
    return listMessage(
      `No papers match “${query.get("q")}”.`,
      h(
        "p",
        {},
        "The search covers the papers the index step has read: after a search, crawl or ocr, run index ",
        "(a pipeline run does) and search again.",
      ),
    );
  }
  const command = `taskapi papers import refs.bib --project ${project || 1}`;
  listMessage(
    project ? `No papers in project ${project} yet.` : "No papers yet.",
    h(
      "p",
      {},
      "Start a ",
      navLink(`/?view=runs${project ? `&project=${project}` : ""}`, "pipeline run"),
      " (its search step imports papers), or import an export (BibTeX, RIS, CSL-JSON, JSON Lines):",
    ),
    h("pre", {}, command),
  );
}

function renderRows(papers) {
  const shown = JSON.stringify([papers, state.nextCursor]);
  if (shown === state.shown) return;
  state.shown = shown;
  const body = $("papers").tBodies[0];
  if (papers.length === 0) {
    body.replaceChildren();
    emptyMessage();
  } else {
    $("papers-message").hidden = true;
    $("papers").hidden = false;
  }
  const q = new URLSearchParams(location.search).get("q") || "";
  const rows = papers.map((paper) => paperRow(paper, q));
  body.replaceChildren(...rows);
  renderPager(PAGER, state.nextCursor);
}

function paperRow(paper, q) {
  const title = navLink(`/?paper=${paper.id}`, paper.title || `(untitled paper ${paper.id})`, {
    className: "title",
  });
  const cell = h("td", { className: "paper" }, title, meta(paper));
  if (paper.snippet) cell.append(h("p", { className: "snippet" }, highlighted(paper.snippet, q)));
  if (paper.duplicate_of !== null && paper.duplicate_of !== undefined) {
    cell.append(
      h(
        "p",
        { className: "dup" },
        "Duplicate of ",
        navLink(`/?paper=${paper.duplicate_of}`, `paper ${paper.duplicate_of}`),
      ),
    );
  }
  return h(
    "tr",
    { "data-id": paper.id },
    h("td", {}, String(paper.id)),
    cell,
    h("td", {}, paper.year === null ? "—" : String(paper.year)),
    h("td", { className: "ident" }, identifier(paper)),
    h(
      "td",
      {},
      paper.has_pdf
        ? pdfLink(paper.id, "PDF", `PDF of paper ${paper.id}`)
        : h("span", { className: "muted" }, "—"),
    ),
    h("td", { className: "score" }, formatScore(paper.score)),
  );
}

function meta(paper) {
  const parts = [authorsShort(paper.authors)];
  if (paper.venue) parts.push(paper.venue);
  return h("p", { className: "meta" }, parts.filter(Boolean).join(" · "));
}

export function authorsShort(authors) {
  if (!Array.isArray(authors) || authors.length === 0) return "";
  if (authors.length <= 3) return authors.join(", ");
  return `${authors.slice(0, 3).join(", ")} et al.`;
}

function identifier(paper) {
  for (const [key, label] of [
    ["doi", ""],
    ["arxiv_id", "arXiv:"],
    ["pmid", "PMID:"],
    ["openalex_id", ""],
    ["s2_id", "S2:"],
  ]) {
    if (paper[key]) return `${label}${paper[key]}`;
  }
  return "—";
}

function formatScore(score) {
  if (typeof score !== "number") return "";
  if (Number.isInteger(score)) return String(score);
  return Math.abs(score) < 0.001 && score !== 0 ? score.toExponential(2) : score.toPrecision(3);
}

/** A link to the stored PDF (the token, if any, rides in ?access_token=: a link cannot send headers). */
export function pdfLink(id, text, label) {
  return h(
    "a",
    { href: withToken(`${PAPERS}/${id}/pdf`), "aria-label": label, target: "_blank", rel: "noopener" },
    text,
  );
}

// -- snippets --------------------------------------------------------------------------------------

const MARKS = new Set(["B", "MARK", "STRONG", "EM"]);

/** The snippet as text with its matches in <mark>. The API sends it HTML-escaped with the matches in
 *  <b>…</b>: it is parsed inert (DOMParser runs nothing) and only its text is kept, each <b> becoming a
 *  <mark>. A snippet without marks gets the query's words marked here. */
export function highlighted(snippet, q) {
  const parsed = new DOMParser().parseFromString(`<body>${String(snippet)}</body>`, "text/html").body;
  const nodes = [];
  let marked = false;
  for (const node of parsed.childNodes) {
    if (node.nodeType === Node.ELEMENT_NODE && MARKS.has(node.nodeName)) {
      nodes.push(h("mark", {}, node.textContent));
      marked = true;
    } else {
      nodes.push(node.textContent);
    }
  }
  return marked ? nodes : markWords(nodes.join(""), queryWords(q));
}

/** The words a search box query asks for: not its operators, quotes or excluded (-word) terms. */
function queryWords(q) {
  return String(q)
    .replace(/["()]/g, " ")
    .split(/\s+/)
    .filter((word) => word && !word.startsWith("-") && !["OR", "AND", "NOT"].includes(word))
    .map((word) => word.replace(/\*+$/, "").replace(/[^\p{L}\p{N}'-]/gu, ""))
    .filter((word) => word.length >= 2);
}

function markWords(text, words) {
  if (words.length === 0) return [text];
  const escaped = words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  // a word and what follows it in the same word: "network" marks "networks" as a stemmer would match it
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])((?:${escaped.join("|")})[\\p{L}\\p{N}]*)`, "giu");
  return text
    .split(pattern)
    .map((part, index) => (index % 2 === 1 ? h("mark", {}, part) : part))
    .filter(Boolean);
}
