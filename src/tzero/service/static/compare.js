/* tzero /compare page (spec 003 §3): the stored `tzero compare` runs, one yardstick for every
 * model and baseline. Plain JS, no build step; ECharts is vendored at /static/vendor.
 *
 * Reads GET /api/research/runs, /api/research/compare?run=… and /api/research/compare/stock.
 * Every chart instance is kept in window.tzeroCharts (cumRankIc, equity, heat, abCurves,
 * stockAb) so tests can read what was drawn. All API numbers are decimals (0.05 = 5%).
 */
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

window.tzeroCharts = {};

/** Page state: the run list, the results fetched so far (by run id), the shown one, the sort,
 * and a counter that drops stale per-stock answers. */
const state = { runs: [], results: {}, res: null, sort: { key: null, dir: -1 }, stockTicket: 0 };

/** Verdict statuses from best to worst (the sort order of the verdict column). */
const STATUS_ORDER = { kept: 0, watch: 1, blocked: 2 };

/** Rows preferred in the per-stock A/B: shared vs refinement vs FULL_LSTM. */
const STOCK_DEFAULT = ["lstm_shared", "lstm_refinement", "lstm"];

/* ---------------------------------------------------------------- helpers */

/** HTML-escape any value. */
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

/** A finite number (null, undefined and NaN are not). */
function isNum(x) { return typeof x === "number" && Number.isFinite(x); }

/** Number formats by kind: IC 4 decimals, percentages 1 decimal (decimal in, % out). */
const FMT = {
  ic: (x) => x.toFixed(4),
  pct: (x) => (x * 100).toFixed(1) + "%",
  spct: (x) => (x >= 0 ? "+" : "") + (x * 100).toFixed(1) + "%",
  f1: (x) => x.toFixed(1),
  f2: (x) => x.toFixed(2),
  f3: (x) => x.toFixed(3),
  sci: (x) => x.toExponential(2),
  int: (x) => Math.round(x).toLocaleString("en-US"),
};

/** Format a number of a kind ("—" when missing); `signed` adds "+" to positives (differences). */
function fmtNum(kind, x, signed = false) {
  if (!isNum(x)) return "—";
  const s = FMT[kind](x).replace(/^-(?=0(\.0+)?%?$)/, "");   // no "-0.000"
  return signed && x > 0 && !s.startsWith("+") ? "+" + s : s;
}

/** Show a status message in the top bar (kind: "", "ok", "busy" or "error"). */
function setMsg(text, kind = "") {
  const el = $("#msg");
  el.textContent = text || "";
  el.className = "msg inline" + (kind ? " " + kind : "");
}

/** GET a JSON API path; throws an Error carrying the server's `detail` on a non-2xx answer. */
async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    const detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    throw new Error(`HTTP ${res.status} ${path}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return data;
}

/** A query string from the non-empty values of `params`. */
function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  return p.toString() ? "?" + p.toString() : "";
}

/** Run an async action, showing its error in the top bar instead of throwing. */
async function guarded(fn) {
  try { await fn(); } catch (e) { console.error(e); setMsg(e.message || String(e), "error"); }
}

/** One comparison result, fetched once per run id. */
async function loadResult(runId) {
  if (!state.results[runId]) state.results[runId] = await getJSON("/api/research/compare" + qs({ run: runId }));
  return state.results[runId];
}

/** "50/5" for a book of settings.books ({name, topk, n_drop}); its name when unknown. */
function bookLabel(book) { return book ? `${book.topk}/${book.n_drop}` : "—"; }

/** A verdict badge (kept green, watch amber, blocked red) with its reasons on hover. */
function badge(v) {
  const reasons = (v && v.reasons) || [];
  return `<span class="verdict ${esc(v && v.status)}" title="${esc(reasons.join("\n") || "no reasons given")}">${esc(v && v.status)}</span>`;
}

/* ---------------------------------------------------------------- the table */

/** The columns of a result's table: key, label, raw value getter, number kind, first sort direction.
 * Book metrics read the row's own gate book (`row.book`: a sample book such as k2d1 for per-stock
 * rows, tagged in the cell). */
function columns(res) {
  const books = res.settings.books || [];
  const m = (k) => (r) => r.metrics[k];
  const bk = (suffix) => (r) => (r.book ? r.metrics[`${r.book}_${suffix}`] : null);
  const cols = [
    { key: "name", label: "model", get: (r) => r.name, first: 1,
      html: (r) => `<b>${esc(r.name)}</b><span class="tag block">${esc(r.kind)} · ${esc(r.scope)}</span>` },
    { key: "members", label: "members", get: (r) => r.members, first: 1, html: (r) => esc(r.members) },
    { key: "rank_ic", label: "Rank IC", get: m("rank_ic"), kind: "ic", sign: true },
    { key: "rank_icir", label: "Rank ICIR", get: m("rank_icir"), kind: "ic", sign: true },
    { key: "ic", label: "IC", get: m("ic"), kind: "ic", sign: true },
    { key: "icir", label: "ICIR", get: m("icir"), kind: "ic", sign: true },
    { key: "direction_accuracy", label: "dir. acc", get: m("direction_accuracy"), kind: "pct" },
    { key: "mse", label: "MSE", get: m("mse"), kind: "sci", first: 1 },
    { key: "crps", label: "CRPS", get: m("crps"), kind: "sci", first: 1 },
    { key: "excess_main", label: `${bookLabel(books[0])} excess/yr`, kind: "spct", sign: true, book: true,
      title: "annual excess over the members' equal weight after costs, of the row's gate book",
      get: bk("excess_ew_annual") },
  ];
  if (books[1]) {
    cols.push({ key: "excess_second", label: `${bookLabel(books[1])} excess/yr`, kind: "spct", sign: true,
                title: `book ${books[1].name}: annual excess over equal weight after costs`,
                get: m(`${books[1].name}_excess_ew_annual`) });
  }
  cols.push(
    { key: "excess_csi300", label: "vs CSI 300/yr", title: "annual excess over the CSI 300 price index after costs, of the gate book", get: bk("excess_csi300_annual"), kind: "spct", sign: true },
    { key: "max_drawdown", label: "max DD", get: bk("max_drawdown"), kind: "pct" },
    { key: "sharpe", label: "Sharpe", get: bk("sharpe"), kind: "f2", sign: true },
    { key: "dsr", label: "DSR", get: (r) => (r.gate && isNum(r.gate.dsr) ? r.gate.dsr : bk("dsr")(r)), kind: "f3",
      title: "deflated Sharpe ratio the gate judged (over the run's trials)" },
    { key: "turnover", label: "turnover", title: "mean daily turnover of the gate book", get: bk("turnover"), kind: "pct", first: 1 },
    { key: "n_trades", label: "trades", get: bk("n_trades"), kind: "int" },
    { key: "fit_seconds", label: "fit s", get: (r) => r.fit_seconds, kind: "f1", first: 1 },
    { key: "predict_ms", label: "ms/day", get: (r) => r.predict_ms, kind: "f1", first: 1 },
    { key: "timing", label: "timing ex/yr", get: (r) => (r.timing ? r.timing.metrics.annual_return : null),
      kind: "spct", sign: true,
      title: "timing the sample's holdings by the row's expected return: excess over holding / yr after costs" },
    { key: "timing_verdict", label: "timing", get: (r) => (r.timing ? STATUS_ORDER[r.timing.verdict.status] : null),
      first: 1, html: (r) => (r.timing ? badge(r.timing.verdict) : "—") },
    { key: "meta_auc", label: "meta AUC", get: (r) => (r.meta ? r.meta.auc : null), kind: "f3",
      title: "AUC of the meta-labelling model on this row's trades (hover: why none)" },
    { key: "verdict", label: "verdict", get: (r) => STATUS_ORDER[r.verdict.status], first: 1,
      html: (r) => badge(r.verdict) },
  );
  return cols;
}

/** The HTML of one table cell (numbers right-aligned, signed ones coloured, raw value in data-value). */
function cell(col, row) {
  const v = col.get(row);
  if (col.html) return `<td data-key="${col.key}" data-value="${esc(v)}">${col.html(row)}</td>`;
  const cls = ["num", col.sign && isNum(v) ? (v > 0 ? "pos" : v < 0 ? "neg" : "") : ""].join(" ").trim();
  let text = fmtNum(col.kind, v);
  if (col.book && row.book && row.book !== (state.res.settings.books[0] || {}).name) text += `<span class="tag">${esc(row.book)}</span>`;
  const why = col.key === "meta_auc" && row.meta && row.meta.error ? ` title="${esc(row.meta.error)}"` : "";
  return `<td class="${cls}" data-key="${col.key}" data-value="${isNum(v) ? v : ""}"${why}>${text}</td>`;
}

/** A missing sort value (sorted last in both directions). */
function missing(v) { return v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v)); }

/** Rows sorted by a column: numbers numerically, strings alphabetically, missing values last. */
function sortedRows(rows, col, dir) {
  return rows.map((r, i) => ({ r, i, v: col.get(r) })).sort((a, b) => {
    if (missing(a.v) || missing(b.v)) return missing(a.v) - missing(b.v) || a.i - b.i;
    const c = typeof a.v === "number" && typeof b.v === "number" ? a.v - b.v : String(a.v).localeCompare(String(b.v));
    return c * dir || a.i - b.i;
  }).map((x) => x.r);
}

/** Draw the comparison table of the shown result in its current sort order. */
function renderTable() {
  const res = state.res, cols = columns(res);
  const { key, dir } = state.sort;
  $("#compare-table thead").innerHTML = "<tr>" + cols.map((c) => {
    const sorted = c.key === key ? (dir > 0 ? " sorted-asc" : " sorted-desc") : "";
    return `<th data-key="${c.key}" class="${sorted.trim()}" title="${esc(c.title || "sort by " + c.label)}">${esc(c.label)}</th>`;
  }).join("") + "</tr>";
  const col = cols.find((c) => c.key === key);
  const rows = col ? sortedRows(res.rows, col, dir) : res.rows;
  $("#compare-table tbody").innerHTML = rows.map((r) =>
    `<tr data-name="${esc(r.name)}" class="${esc(r.kind)}">${cols.map((c) => cell(c, r)).join("")}</tr>`).join("");
}

/** Header click: sort by that column (again: reverse). */
function onSort(ev) {
  const th = ev.target.closest("th[data-key]");
  if (!th) return;
  const col = columns(state.res).find((c) => c.key === th.dataset.key);
  if (state.sort.key === col.key) state.sort.dir = -state.sort.dir;
  else state.sort = { key: col.key, dir: col.first || -1 };
  renderTable();
}

/* ---------------------------------------------------------------- header, verdicts */

/** The run's header: universe, range, refit, code version, notes and failed models. */
function renderHeader(res) {
  const s = res.settings;
  const items = [["universe", res.universe], ["range", `${s.start} → ${s.end}`], ["sessions", s.n_sessions],
    ["members", s.n_members], ["refit", s.refit], ["fast", s.fast ? "yes" : "no"],
    ["books", (s.books || []).map(bookLabel).join(", ") + ((s.sample_books || []).length ? ` · sample ${s.sample_books.map(bookLabel).join(", ")} on ${(s.sample || []).length}` : "")],
    ["trials", res.n_trials], ["data", `${res.data_range.first} → ${res.data_range.last}`],
    ["code", res.code_version], ["created", res.created_at], ["run", res.run_id]];
  $("#run-meta").innerHTML = items.map(([k, v]) => `<span><span class="muted">${esc(k)}</span> <b>${esc(v)}</b></span>`).join("");
  $("#run-notes ul").innerHTML = (res.notes || []).map((n) => `<li>${esc(n)}</li>`).join("");
  const failed = Object.entries(res.failed || {});
  $("#run-failed").innerHTML = failed.length ? "failed: " + failed.map(([m, why]) => `<b>${esc(m)}</b> ${esc(why)}`).join("; ") : "";
}

/** The verdict of every row with its reasons. */
function renderVerdicts(res) {
  $("#verdicts").innerHTML = res.rows.map((r) => `<li data-name="${esc(r.name)}">${badge(r.verdict)} <b>${esc(r.name)}</b>
    <span class="muted">${esc(r.kind)} · ${esc(r.members)}${r.book ? " · book " + esc(r.book) : ""}</span>
    <ul>${(r.verdict.reasons || []).map((x) => `<li>${esc(x)}</li>`).join("") || "<li>all gates passed</li>"}
    ${r.timing ? `<li>timing: ${badge(r.timing.verdict)} ${esc((r.timing.verdict.reasons || []).join("; "))}</li>` : ""}
    ${r.meta && r.meta.verdict ? `<li>meta-label filter (AUC ${fmtNum("f3", r.meta.auc)} vs base rate ${fmtNum("pct", r.meta.base_rate)}): ${badge(r.meta.verdict)} ${esc((r.meta.verdict.reasons || []).join("; "))}</li>` : ""}</ul></li>`).join("");
}

/* ---------------------------------------------------------------- charts */

/** The ECharts instance registered as window.tzeroCharts[key] on element elId (made once). */
function chart(key, elId) {
  if (!window.echarts) throw new Error("ECharts not loaded (/static/vendor/echarts.min.js; run make install)");
  let c = window.tzeroCharts[key];
  if (!c || c.isDisposed()) {
    c = window.echarts.init($(elId), null, { renderer: "canvas" });
    window.tzeroCharts[key] = c;
  }
  return c;
}

/** A line-chart option on category dates; `yName` carries the unit, `yFmt` formats the axis. */
function lineOption(title, yName, dates, series, yFmt) {
  return {
    animation: false,
    title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13, fontWeight: 600 } },
    tooltip: { trigger: "axis", valueFormatter: (v) => (isNum(v) ? (yFmt ? yFmt(v) : v.toFixed(4)) : "—") },
    legend: { type: "scroll", top: 26, left: 8, right: 8 },
    grid: { left: 66, right: 24, top: 58, bottom: 58 },
    dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 6 }],
    xAxis: { type: "category", boundaryGap: false, data: dates, name: "session", nameLocation: "middle", nameGap: 26 },
    yAxis: { type: "value", name: yName, scale: true, nameLocation: "middle", nameGap: 46,
             axisLabel: yFmt ? { formatter: yFmt } : {} },
    series,
  };
}

/** A line series (null gaps kept; `dashed` for benchmarks). */
function line(name, data, extra = {}) {
  return { name, type: "line", showSymbol: false, connectNulls: false, data, ...extra };
}

/** Cumulative Rank IC of every row that ranks. */
function drawCumRankIc(res) {
  const series = res.rows.filter((r) => (r.curves || {}).cum_rank_ic).map((r) => line(r.name, r.curves.cum_rank_ic));
  chart("cumRankIc", "#chart-cum-rank-ic").setOption(lineOption("Cumulative Rank IC (every row that ranks)",
    "cum. Rank IC (sum of daily, unitless)", res.benchmark.dates, series), true);
}

/** Equity of every row's gate book (start = 1, after costs) with the equal-weight and CSI 300 benchmarks. */
function drawEquity(res) {
  const series = res.rows.filter((r) => r.book && (r.curves || {})["equity_" + r.book])
    .map((r) => line(`${r.name} (${r.book})`, r.curves["equity_" + r.book]));
  const dashed = (color) => ({ lineStyle: { type: "dashed", width: 1.5, color }, itemStyle: { color } });
  series.push(line("equal weight", res.benchmark.equal_weight, dashed("#6b7683")),
              line("CSI 300", res.benchmark.csi300, dashed("#1d2430")));
  chart("equity", "#chart-equity").setOption(lineOption("Top-k equity after costs (each row's gate book; dashed: benchmarks)",
    "equity (start = 1.00)", res.benchmark.dates, series, (v) => v.toFixed(2)), true);
}

/** Robustness heat map: rows × "axis:cell", value = excess return / yr, diverging around 0. */
function drawHeat(res) {
  const rows = res.rows.filter((r) => (r.robustness || []).length);
  const xs = [], info = {};
  for (const r of rows) {
    for (const c of r.robustness) {
      const x = `${c.axis}:${c.cell}`;
      if (!xs.includes(x)) xs.push(x);
      info[`${r.name}|${x}`] = c;
    }
  }
  const data = [];
  rows.forEach((r, yi) => xs.forEach((x, xi) => {
    const c = info[`${r.name}|${x}`];
    if (c && isNum(c.excess_annual)) data.push([xi, yi, c.excess_annual]);
  }));
  // Colour bound: the 90th percentile of |excess| so a one-session cell does not wash out the rest.
  const abs = data.map((d) => Math.abs(d[2])).sort((a, b) => a - b);
  const bound = Math.max(0.01, abs.length ? abs[Math.floor(0.9 * (abs.length - 1))] : 0.1);
  chart("heat", "#chart-heat").setOption({
    animation: false,
    title: { text: "Robustness: excess return / yr by cell (gate book vs equal weight, after costs)", left: 8, top: 4,
             textStyle: { fontSize: 13, fontWeight: 600 } },
    tooltip: { formatter: (p) => {
      const x = xs[p.value[0]], r = rows[p.value[1]], c = info[`${r.name}|${x}`];
      return `${esc(r.name)} · ${esc(x)}<br>excess return / yr ${fmtNum("spct", c.excess_annual)}<br>` +
        `Rank IC ${fmtNum("ic", c.rank_ic)} · ${c.n_sessions} sessions · ${c.n_trades} trades`;
    } },
    grid: { left: 110, right: 24, top: 36, bottom: 118 },
    xAxis: { type: "category", data: xs, name: "robustness cell (axis:cell)", nameLocation: "middle", nameGap: 62,
             axisLabel: { interval: 0, rotate: 30, fontSize: 11 }, splitArea: { show: true } },
    yAxis: { type: "category", data: rows.map((r) => r.name), name: "model", nameLocation: "middle", nameGap: 90,
             splitArea: { show: true } },
    visualMap: { min: -bound, max: bound, calculable: false, orient: "horizontal", left: "center", bottom: 4,
                 itemHeight: 200, itemWidth: 12,
                 text: [`${fmtNum("spct", bound)}  excess return / yr`, fmtNum("spct", -bound)],
                 inRange: { color: ["#2c7bb6", "#abd9e9", "#f7f7f7", "#fdae61", "#d7191c"] } },
    series: [{ name: "excess return / yr", type: "heatmap", data,
               label: { show: true, fontSize: 10, formatter: (p) => fmtNum("spct", p.value[2]) } }],
  }, true);
}

/* ---------------------------------------------------------------- A/B */

/** Fill the option list of a select (values, labels) keeping `selected`. */
function fillSelect(sel, items, selected) {
  sel.innerHTML = items.map(([v, label]) => `<option value="${esc(v)}">${esc(label)}</option>`).join("");
  if (selected !== undefined && items.some(([v]) => v === selected)) sel.value = selected;
}

/** A run's label in the pickers. */
function runLabel(r) {
  return `${r.universe} · ${r.start} → ${r.end} · ${String(r.created_at).replace("T", " ").slice(0, 16)}` +
    `${r.fast ? " · fast" : ""} · ${r.n_models} rows`;
}

/** Set up the A/B pickers for the shown result (models A/B, runs A/B, the sample stock and its models). */
function initAb(res) {
  const names = res.rows.map((r) => [r.name, `${r.name} (${r.kind})`]);
  const firstModel = (res.rows.find((r) => r.kind === "model") || res.rows[0]).name;
  const ranked = res.rows.filter((r) => r.name !== firstModel && (r.curves || {}).cum_rank_ic);
  const other = (ranked.find((r) => r.kind === "baseline") || ranked[0] || res.rows[1] || res.rows[0]).name;
  fillSelect($("#ab-a"), names, firstModel);
  fillSelect($("#ab-b"), names, other);
  const runs = state.runs.map((r) => [r.run_id, runLabel(r)]);
  const runB = state.runs.find((r) => r.run_id !== res.run_id && r.universe !== res.universe)
    || state.runs.find((r) => r.run_id !== res.run_id) || { run_id: res.run_id };
  fillSelect($("#ab-run-a"), runs, res.run_id);
  fillSelect($("#ab-run-b"), runs, runB.run_id);
  fillSelect($("#ab-stock"), (res.settings.sample || []).map((c) => [c, c]));
  const preferred = STOCK_DEFAULT.filter((n) => res.rows.some((r) => r.name === n));
  $("#ab-stock-models").innerHTML = res.rows.map((r) => {
    const on = preferred.length ? preferred.includes(r.name) : true;
    return `<label class="check"><input type="checkbox" value="${esc(r.name)}"${on ? " checked" : ""}> ${esc(r.name)}</label>`;
  }).join(" ");
}

/** Show the pane of the chosen A/B mode and draw it. */
async function drawAb() {
  const mode = $("#ab-mode").value;
  $$("#ab [data-mode]").forEach((p) => p.classList.toggle("hidden", p.dataset.mode !== mode));
  if (mode === "models") drawAbModels();
  else if (mode === "runs") await drawAbRuns();
  else await drawAbStock();
  Object.values(window.tzeroCharts).forEach((c) => c && c.resize());
}

/** A side-by-side metric table: metric | A | B | B − A over `cols` (after the `extraRows` [label, a, b]). */
function metricTable(table, head, pairs, cols, extraRows = []) {
  const [ra, rb] = pairs;
  $("thead", table).innerHTML = `<tr><th>metric</th><th>${esc(head[0])}</th><th>${esc(head[1])}</th><th>B − A</th></tr>`;
  const body = extraRows.map(([k, a, b]) => `<tr><th>${esc(k)}</th><td>${esc(a)}</td><td>${esc(b)}</td><td></td></tr>`);
  for (const c of cols) {
    if (c.key === "name" || c.key === "members") continue;
    const a = ra ? c.get(ra) : null, b = rb ? c.get(rb) : null;
    if (c.key === "verdict" || c.key === "timing_verdict") {       // badges, not numbers
      body.push(`<tr data-key="${c.key}"><th>${esc(c.label)}</th><td>${ra ? c.html(ra) : "—"}</td>` +
        `<td>${rb ? c.html(rb) : "—"}</td><td></td></tr>`);
      continue;
    }
    const d = isNum(a) && isNum(b) ? b - a : null;
    const cls = c.sign && isNum(d) ? (d > 0 ? "pos" : d < 0 ? "neg" : "") : "";
    const kind = c.kind === "pct" ? "spct" : c.kind;
    body.push(`<tr data-key="${c.key}"><th>${esc(c.label)}</th><td class="num">${fmtNum(c.kind, a)}</td>` +
      `<td class="num">${fmtNum(c.kind, b)}</td><td class="num ${cls}">${fmtNum(kind, d, true)}</td></tr>`);
  }
  $("tbody", table).innerHTML = body.join("");
}

/** Two models of this run: their metrics side by side and overlaid cum Rank IC and equity curves. */
function drawAbModels() {
  const res = state.res, rows = [$("#ab-a").value, $("#ab-b").value].map((n) => res.rows.find((r) => r.name === n));
  metricTable($("#ab-table"), rows.map((r, i) => `${"AB"[i]}: ${r ? r.name : "—"}`), rows, columns(res),
              [["members", ...rows.map((r) => (r ? r.members : "—"))], ["book", ...rows.map((r) => (r && r.book) || "—")]]);
  const ok = rows.filter(Boolean), tag = (r) => `${r === rows[0] ? "A" : "B"} ${r.name}`;
  const series = [
    ...ok.map((r) => line(`${tag(r)}: cum Rank IC`, (r.curves || {}).cum_rank_ic || [], { yAxisIndex: 0 })),
    ...ok.map((r) => line(`${tag(r)}: equity ${r.book || ""}`, (r.curves || {})["equity_" + r.book] || [],
                          { yAxisIndex: 1, lineStyle: { type: "dashed" } })),
  ];
  const opt = lineOption("A/B: cum Rank IC (solid, left) and equity (dashed, right)", "cum. Rank IC (unitless)",
                         res.benchmark.dates, series);
  opt.yAxis = [opt.yAxis, { type: "value", name: "equity (start = 1.00)", scale: true, splitLine: { show: false },
                            nameLocation: "middle", nameGap: 44,
                            axisLabel: { formatter: (v) => v.toFixed(2) } }];
  opt.grid.right = 66;
  chart("abCurves", "#chart-ab-curves").setOption(opt, true);
}

/** The row a run is summarised by: the named one, else its best (kept first, then gate-book excess). */
function pickRow(res, name) {
  if (name) return res.rows.find((r) => r.name === name) || null;
  const ex = (r) => (r.book && isNum(r.metrics[`${r.book}_excess_ew_annual`]) ? r.metrics[`${r.book}_excess_ew_annual`] : -Infinity);
  return [...res.rows].sort((a, b) => STATUS_ORDER[a.verdict.status] - STATUS_ORDER[b.verdict.status] || ex(b) - ex(a))[0] || null;
}

/** Two runs (e.g. two universes): one model (or each run's best kept) side by side, and every row of both. */
async function drawAbRuns() {
  const [a, b] = await Promise.all([loadResult($("#ab-run-a").value), loadResult($("#ab-run-b").value)]);
  const common = a.rows.map((r) => r.name).filter((n) => b.rows.some((r) => r.name === n));
  const sel = $("#ab-run-model"), keep = sel.value;
  fillSelect(sel, [["", "best kept (each run's own)"], ...common.map((n) => [n, n])], keep);
  const rows = [pickRow(a, sel.value), pickRow(b, sel.value)];
  const meta = (k, f) => [k, f(a), f(b)];
  metricTable($("#ab-run-table"), [`A: ${a.universe}`, `B: ${b.universe}`], rows, columns(a), [
    meta("run", (r) => r.run_id), meta("range", (r) => `${r.settings.start} → ${r.settings.end}`),
    meta("sessions", (r) => r.settings.n_sessions), meta("members", (r) => r.settings.n_members),
    meta("code", (r) => r.code_version), ["model", ...rows.map((r) => (r ? `${r.name} (${r.verdict.status})` : "—"))]]);
  const names = [...new Set([...a.rows, ...b.rows].map((r) => r.name))];
  const ex = (r) => (r && r.book ? r.metrics[`${r.book}_excess_ew_annual`] : null);
  const half = (res, n) => {
    const r = res.rows.find((x) => x.name === n);
    return `<td class="num">${fmtNum("ic", r && r.metrics.rank_ic)}</td><td class="num">${fmtNum("spct", ex(r))}</td>` +
      `<td>${r ? badge(r.verdict) : "—"}</td>`;
  };
  $("#ab-runs-table thead").innerHTML = `<tr><th rowspan="2">row</th><th colspan="3">A: ${esc(a.universe)}</th>` +
    `<th colspan="3">B: ${esc(b.universe)}</th></tr><tr>${"<th>Rank IC</th><th>excess/yr</th><th>verdict</th>".repeat(2)}</tr>`;
  $("#ab-runs-table tbody").innerHTML = names.map((n) => `<tr data-name="${esc(n)}"><th>${esc(n)}</th>${half(a, n)}${half(b, n)}</tr>`).join("");
}

/** One sample stock: each chosen row's cumulative long/flat return and its hit rate, MSE and n. */
async function drawAbStock() {
  const res = state.res, code = $("#ab-stock").value;
  const models = $$("#ab-stock-models input:checked").map((x) => x.value);
  const msg = $("#ab-stock-msg");
  if (!code || !models.length) { msg.textContent = "pick a stock and at least one model"; return; }
  msg.textContent = "loading…";
  const ticket = ++state.stockTicket;
  const d = await getJSON("/api/research/compare/stock" + qs({ run: res.run_id, ts_code: code, models: models.join(",") }));
  if (ticket !== state.stockTicket) return;   // a newer pick is under way
  const dates = [...new Set(d.models.flatMap((m) => m.dates))].sort();
  const series = d.models.map((m) => {
    const at = new Map(m.dates.map((t, i) => [t, m.cum_return[i]]));
    return line(m.name, dates.map((t) => (at.has(t) ? at.get(t) : null)));
  });
  chart("stockAb", "#chart-stock-ab").setOption(lineOption(`${code} · long/flat on each forecast (gross)`,
    "cum. return (sum of daily, %)", dates, series, (v) => fmtNum("pct", v)), true);
  $("#ab-stock-table thead").innerHTML = "<tr><th>model</th><th>direction acc</th><th>MSE</th><th>n</th><th>cum. return</th></tr>";
  $("#ab-stock-table tbody").innerHTML = d.models.map((m) => `<tr data-name="${esc(m.name)}"><th>${esc(m.name)}</th>` +
    `<td class="num">${fmtNum("pct", m.direction_accuracy)}</td><td class="num">${fmtNum("sci", m.mse)}</td>` +
    `<td class="num">${m.n}</td><td class="num">${fmtNum("spct", m.cum_return[m.cum_return.length - 1])}</td></tr>`).join("");
  $("#ab-stock-table").dataset.code = code;
  const none = models.filter((n) => !d.models.some((m) => m.name === n));
  msg.textContent = none.length ? `no return forecast on ${code} for: ${none.join(", ")} (rankers without an expected return)` : "";
}

/* ---------------------------------------------------------------- boot */

/** Show one run: header, table, charts, verdicts and the A/B section. */
async function showRun(runId) {
  setMsg("loading " + runId + " …", "busy");
  const res = await loadResult(runId);
  state.res = res;
  renderHeader(res);
  renderTable();
  renderVerdicts(res);
  drawCumRankIc(res);
  drawEquity(res);
  drawHeat(res);
  initAb(res);
  await drawAb();
  setMsg(`${res.rows.length} rows · ${res.universe}`, "ok");
}

/** Load the run list; the empty state when there is none, else the newest (or ?run=…) run. */
async function boot() {
  state.runs = await getJSON("/api/research/runs");
  if (!state.runs.length) {
    $("#empty").innerHTML = "no comparison run stored: run <code>tzero compare --universe CSI_300 --fast</code>";
    $("#empty").classList.remove("hidden");
    $("#run-select").disabled = true;
    setMsg("");
    return;
  }
  const wanted = new URLSearchParams(location.search).get("run");
  const first = state.runs.some((r) => r.run_id === wanted) ? wanted : state.runs[0].run_id;
  fillSelect($("#run-select"), state.runs.map((r) => [r.run_id, runLabel(r)]), first);
  $("#content").classList.remove("hidden");
  await showRun(first);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#compare-table thead").addEventListener("click", onSort);
  $("#run-select").addEventListener("change", (e) => guarded(() => showRun(e.target.value)));
  for (const id of ["#ab-mode", "#ab-a", "#ab-b", "#ab-run-a", "#ab-run-b", "#ab-run-model", "#ab-stock", "#ab-stock-models"]) {
    $(id).addEventListener("change", () => guarded(drawAb));
  }
  window.addEventListener("resize", () => Object.values(window.tzeroCharts).forEach((c) => c && c.resize()));
  guarded(boot);
});
