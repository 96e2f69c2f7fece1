// One paper (/?paper=12): its fields and identifiers, where it was found, its duplicates, its PDF and
// the text the ocr step read from it.

import {
  $,
  api,
  current,
  h,
  hooks,
  navLink,
  shown,
  showMessage,
  view,
} from "./core.js?v=__DASHBOARD_VERSION__";
import { PAPERS, authorsShort, papersUrl, pdfLink } from "./papers.js?v=__DASHBOARD_VERSION__";

// No route lists a canonical paper's duplicates: they are looked for in the project's list (with
// duplicates), bounded. `duplicate_of=` is sent too, for a server whose list can filter by it.
const DUPLICATE_PAGES = 2;
const DUPLICATE_PAGE_SIZE = 1000;
const OPEN_PAGES = 1; // text pages shown open; the others fill in when opened
const AFTER_STEPS = new Set(["dedup", "crawl", "ocr", "index"]);
const IDENTIFIERS = [
  ["doi", "DOI", (value) => `https://doi.org/${encodeURI(value).replace(/[?#]/g, encodeURIComponent)}`],
  ["arxiv_id", "arXiv", (value) => `https://arxiv.org/abs/${encodeURI(value)}`],
  [
    "s2_id",
    "Semantic Scholar",
    (value) => `https://www.semanticscholar.org/paper/${encodeURIComponent(value)}`,
  ],
  ["openalex_id", "OpenAlex", (value) => `https://openalex.org/${encodeURIComponent(value)}`],
  ["pmid", "PubMed", (value) => `https://pubmed.ncbi.nlm.nih.gov/${encodeURIComponent(value)}/`],
];
const ENGINES = { text: "text layer", tesseract: "Tesseract OCR" }; // what read a page
const FROM = { text: "from the text layer", tesseract: "by Tesseract OCR" };
const state = { id: null, paper: null, textKey: null, duplicatesKey: null };

export const paperView = {
  section: "paper-view",
  title: "paper-title",
  matches: (query) => query.get("paper") !== null,
  project: () => (state.paper ? String(state.paper.project_id) : null),
  enter(query) {
    state.id = query.get("paper");
    state.paper = null;
    state.textKey = null;
    state.duplicatesKey = null;
    $("paper-back").href = papersUrl(null);
    return load(true);
  },
  refresh: () => load(false),
  onTask(task) {
    if (task.event === "completed" && AFTER_STEPS.has(task.task_type)) hooks.refreshSoon();
  },
};

async function load(first) {
  const seq = view.seq;
  const id = state.id;
  if (!/^\d+$/.test(id)) return missing("Paper not found.", `"${id}" is not a paper ID.`);
  $("paper-title").textContent = `Paper ${id}`;
  document.title = `Paper ${id} · taskapi`;
  let answer;
  try {
    answer = await api(`${PAPERS}/${id}`);
  } catch (error) {
    if (!current(seq)) return;
    if (error.status === 404 || error.status === 400) missing("Paper not found.", error.message);
    else if (first && shown(error)) missing("Cannot show this paper.", error.message);
    return;
  }
  if (!current(seq)) return;
  const paper = answer.body.data;
  if (!state.paper) {
    hooks.listen({ project_id: paper.project_id }); // completed steps of its project may change it
    $("paper-back").href = papersUrl(paper.project_id);
  }
  state.paper = paper;
  render(paper);
  hooks.nav();
  const textKey = JSON.stringify([paper.text, paper.has_pdf]);
  if (textKey !== state.textKey) loadText(paper, seq).then((loaded) => loaded && (state.textKey = textKey));
  const duplicatesKey = `${paper.duplicate_of}|${paper.updated_at}`;
  if (duplicatesKey !== state.duplicatesKey) {
    state.duplicatesKey = duplicatesKey;
    showDuplicates(paper, seq);
  }
}

function missing(title, message) {
  $("paper-body").hidden = true;
  const back = h("p", {}, navLink("/?view=papers", "Back to the papers"));
  showMessage($("paper-missing"), title, h("p", {}, message), back);
}

// -- the fields ------------------------------------------------------------------------------------

function render(paper) {
  $("paper-missing").hidden = true;
  $("paper-body").hidden = false;
  $("paper-title").textContent = paper.title || `Paper ${paper.id}`;
  document.title = `${paper.title || `Paper ${paper.id}`} · taskapi`;
  $("p-authors").textContent = paper.authors.length ? paper.authors.join(", ") : "No authors recorded.";
  $("p-fields").replaceChildren(...fields(paper));
  const ids = IDENTIFIERS.filter(([key]) => paper[key]).map(([key, label, url]) => [
    label,
    external(url(paper[key]), paper[key]),
  ]);
  $("p-ids").replaceChildren(
    ids.length
      ? h("dl", { className: "fields" }, pairs(ids))
      : h("p", { className: "muted" }, "No identifier recorded."),
  );
  $("p-abstract").textContent = paper.abstract || "No abstract.";
  $("p-abstract").classList.toggle("muted", !paper.abstract);
  renderPdf(paper);
}

function fields(paper) {
  const venue = [
    paper.venue,
    paper.volume && `vol. ${paper.volume}`,
    paper.issue && `no. ${paper.issue}`,
    paper.pages && `pp. ${paper.pages}`,
  ];
  const sources = paper.sources.length
    ? h(
        "ul",
        { className: "chips" },
        paper.sources.map((name) => h("li", {}, name)),
      )
    : "—";
  return pairs([
    ["ID", String(paper.id)],
    ["Year", paper.year === null ? "—" : String(paper.year)],
    ["Venue", venue.filter(Boolean).join(", ") || "—"],
    ["Project", navLink(`/?view=papers&project=${paper.project_id}`, `Project ${paper.project_id}`)],
    ["Found in", sources],
    ["Open access", paper.oa_status || "—"],
    ["Added (UTC)", paper.created_at],
    ["Updated (UTC)", paper.updated_at],
  ]);
}

function pairs(entries) {
  return entries.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]);
}

/** A link out of the dashboard, only for http(s) URLs: the values come from the sources' data. */
function external(url, text) {
  if (!/^https?:\/\//i.test(String(url))) return String(text);
  return h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, String(text));
}

function renderPdf(paper) {
  const box = $("p-pdf");
  if (paper.file) {
    const from = paper.file.url ? ["fetched from ", external(paper.file.url, paper.file.url)] : ["imported"];
    box.replaceChildren(
      h(
        "p",
        {},
        pdfLink(paper.id, "Open the PDF", null),
        ` (${formatBytes(paper.file.bytes)}, `,
        ...from,
        `, ${paper.file.fetched_at} UTC)`,
      ),
    );
    return;
  }
  const candidates = [...new Set([...(paper.pdf_candidates || []), paper.pdf_url].filter(Boolean))];
  box.replaceChildren(h("p", { className: "muted" }, "No PDF stored yet."));
  if (candidates.length) {
    box.append(
      h("p", {}, "Where the crawl step looks for one, best first:"),
      h(
        "ol",
        { className: "candidates" },
        candidates.map((url) => h("li", {}, external(url, url))),
      ),
    );
  }
}

function formatBytes(bytes) {
  const value = Number(bytes) || 0;
  if (value < 1024) return `${value} bytes`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${(value / 1024 / 1024).toFixed(1)} MiB`;
}

// -- duplicates ------------------------------------------------------------------------------------

async function showDuplicates(paper, seq) {
  const box = $("p-duplicates");
  if (paper.duplicate_of !== null && paper.duplicate_of !== undefined) {
    box.replaceChildren(
      h(
        "p",
        {},
        "This paper is a duplicate of ",
        navLink(`/?paper=${paper.duplicate_of}`, `paper ${paper.duplicate_of}`),
        ": the dedup step merged its identifiers and sources into that one.",
      ),
    );
    return;
  }
  box.replaceChildren(h("p", { className: "muted" }, "Looking for duplicates…"));
  let found;
  try {
    found = await findDuplicates(paper);
  } catch (error) {
    if (current(seq))
      box.replaceChildren(h("p", { className: "muted" }, `Cannot list its duplicates: ${error.message}`));
    return;
  }
  if (!current(seq)) return;
  const partly = `Looked through the newest ${found.scanned} papers of the project only.`;
  const note = found.complete ? [] : [h("p", { className: "muted" }, partly)];
  if (found.papers.length === 0) {
    box.replaceChildren(
      h("p", { className: "muted" }, "No paper is marked as a duplicate of this one."),
      ...note,
    );
    return;
  }
  box.replaceChildren(
    h("p", {}, `Marked as duplicates of this paper (${found.papers.length}):`),
    h("ul", { id: "p-duplicate-list" }, found.papers.map(duplicateItem)),
    ...note,
  );
}

function duplicateItem(dup) {
  const about = [`paper ${dup.id}`, dup.year, dup.sources.length && `from ${dup.sources.join(", ")}`];
  const link = navLink(`/?paper=${dup.id}`, dup.title || `Paper ${dup.id}`);
  return h("li", {}, link, ` (${about.filter(Boolean).join(", ")})`);
}

async function findDuplicates(paper) {
  const papers = [];
  let cursor = null;
  let scanned = 0;
  for (let page = 0; page < DUPLICATE_PAGES; page += 1) {
    const query = new URLSearchParams({
      project_id: paper.project_id,
      include_duplicates: "true",
      duplicate_of: paper.id,
      limit: DUPLICATE_PAGE_SIZE,
    });
    if (cursor) query.set("cursor", cursor);
    const answer = await api(`${PAPERS}?${query}`);
    const items = Array.isArray(answer.body.data) ? answer.body.data : [];
    scanned += items.length;
    papers.push(...items.filter((item) => item.duplicate_of === paper.id));
    cursor = answer.headers.get("X-Next-Cursor");
    if (!cursor) return { papers, complete: true, scanned };
  }
  return { papers, complete: false, scanned };
}

// -- the text ---------------------------------------------------------------------------------------

async function loadText(paper, seq) {
  let answer = null;
  try {
    answer = await api(`${PAPERS}/${paper.id}/text`);
  } catch (error) {
    if (!current(seq)) return false;
    if (error.status !== 404) {
      if (shown(error))
        $("p-text").replaceChildren(h("p", { className: "muted" }, `Cannot show the text: ${error.message}`));
      return false;
    }
  }
  if (!current(seq)) return false;
  const pages =
    answer && Array.isArray(answer.body.data && answer.body.data.pages) ? answer.body.data.pages : [];
  if (pages.length === 0) noText(paper);
  else renderText(pages, answer.body.data.chars);
  return true;
}

function noText(paper) {
  const why = paper.has_pdf
    ? "The ocr step reads the stored PDF: run it (a pipeline run does) and the text shows here."
    : "There is no PDF to read yet: the crawl step fetches it, then the ocr step reads it.";
  $("p-text").replaceChildren(
    h("p", { className: "lead", id: "p-no-text" }, "No text yet."),
    h("p", { className: "muted" }, why),
  );
}

function renderText(pages, chars) {
  const byEngine = {};
  for (const page of pages) byEngine[page.engine] = (byEngine[page.engine] || 0) + 1;
  const engines = Object.entries(byEngine).map(
    ([engine, count]) => `${count} ${FROM[engine] || `by ${engine}`}`,
  );
  const total =
    typeof chars === "number" ? chars : pages.reduce((sum, page) => sum + String(page.text || "").length, 0);
  const count = `${pages.length} ${pages.length === 1 ? "page" : "pages"}`;
  const line = `${count}, ${total.toLocaleString("en")} characters (${engines.join(", ")}).`;
  const summary = h("p", { id: "p-text-summary" }, line);
  $("p-text").replaceChildren(summary, ...pages.map((page, index) => textPage(page, index < OPEN_PAGES)));
}

function textPage(page, open) {
  const text = String(page.text || "");
  const label = [`Page ${page.page}`, ENGINES[page.engine] || page.engine];
  if (typeof page.confidence === "number") label.push(`${formatConfidence(page.confidence)} confidence`);
  label.push(`${text.length.toLocaleString("en")} characters`);
  const body = h("pre", { className: "page-text" });
  const details = h("details", { className: "text-page", open }, h("summary", {}, label.join(" · ")), body);
  const fill = () => {
    if (details.open && !body.textContent) body.textContent = text || "(no text on this page)";
  };
  details.addEventListener("toggle", fill); // a long document's pages are put in the page only when opened
  fill();
  return details;
}

function formatConfidence(value) {
  return `${Math.round(value)}%`; // Tesseract's mean word confidence, 0 to 100
}
