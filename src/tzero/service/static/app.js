/* tzero /lstm page (spec 004 §6): three tabs, vanilla JS, ECharts vendored at /static/vendor.
 *
 * Every chart instance is kept in window.tzeroCharts (direction, returns, price, versions)
 * so tests can read what was drawn: tzeroCharts.price.getOption().series[0].data.
 */
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const TOKEN_KEY = "tzero.token";
const PRED_KEY = "tzero.predictions";

window.tzeroCharts = {};

/* ---------------------------------------------------------------- helpers */

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function isNum(x) { return typeof x === "number" && Number.isFinite(x); }
function pct(x, digits = 2) { return isNum(x) ? (x * 100).toFixed(digits) + "%" : "—"; }
function num(x, digits = 4) { return isNum(x) ? (Math.abs(x) >= 1e4 ? x.toFixed(0) : +x.toFixed(digits) + "") : "—"; }
function fmt(x) {
  if (x === null || x === undefined) return "—";
  if (typeof x === "boolean") return x ? "✓" : "✗";
  if (isNum(x)) return num(x);
  if (Array.isArray(x)) return x.map(fmt).join(", ");
  if (typeof x === "object") return JSON.stringify(x);
  return String(x);
}
function setMsg(el, text, kind = "") {
  if (typeof el === "string") el = $(el);
  el.textContent = text || "";
  el.className = el.className.replace(/\b(error|ok|busy)\b/g, "").trim() + (kind ? " " + kind : "");
}
function symbolOf(id) { return ($(id).value || "").trim().toUpperCase(); }
/** Words of the server's direction (the one rule of tzero.signals.direction). */
const DIR_TEXT = { up: "涨 ▲ up", neutral: "中性 · neutral", down: "跌 ▼ down" };
/** The direction the server sent ("up" | "neutral" | "down"): `direction_label`, or a
 * Signal's / vote's `direction` (label, or +1/0/-1); never re-derived from a return's sign. */
function dirLabel(x) {
  if (x && typeof x.direction_label === "string") return x.direction_label;
  const d = x ? x.direction : undefined;
  if (d === "up" || d === "neutral" || d === "down") return d;
  return d === 1 ? "up" : d === -1 ? "down" : "neutral";
}

class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

/** Call the API; throws ApiError with the server's `detail` on a non-2xx answer. */
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = $("#token").value.trim();
  if (token) headers.Authorization = "Bearer " + token;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "网络错误 network error: " + e.message);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    let detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    else if (detail && typeof detail === "object") detail = JSON.stringify(detail);
    const hint = res.status === 401 || res.status === 403 ? "（请填写令牌 check the token）" : "";
    throw new ApiError(res.status, `HTTP ${res.status}: ${detail || res.statusText}${hint}`, data);
  }
  return data;
}
function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}
/** Run an async action with a button disabled and errors shown in msgEl. */
async function guarded(btn, msgEl, fn) {
  if (btn) btn.disabled = true;
  try {
    await fn();
  } catch (e) {
    setMsg(msgEl, e.message || String(e), "error");
    console.error(e);
  } finally {
    if (btn) btn.disabled = false;
  }
}

/** A key/value table from an object (nested objects flattened one level as a.b). */
function kvTable(obj) {
  if (!obj || typeof obj !== "object") return `<p class="muted">${esc(fmt(obj))}</p>`;
  const rows = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const inner = Object.entries(v);
      if (!inner.length) rows.push([k, "—"]);
      for (const [k2, v2] of inner) rows.push([`${k}.${k2}`, fmt(v2)]);
    } else rows.push([k, fmt(v)]);
  }
  return `<table class="data kv"><tbody>${rows.map(([k, v]) =>
    `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</tbody></table>`;
}
/** A table from a list of flat-ish objects; columns = union of keys (or given). */
function listTable(table, rows, columns) {
  columns = columns || [...new Set(rows.flatMap((r) => Object.keys(r)))];
  $("thead", table).innerHTML = "<tr>" + columns.map((c) => `<th>${esc(c)}</th>`).join("") + "</tr>";
  $("tbody", table).innerHTML = rows.map((r) =>
    "<tr>" + columns.map((c) => `<td>${esc(fmt(r[c]))}</td>`).join("") + "</tr>").join("");
}

/* ---------------------------------------------------------------- tabs */

function showTab(name) {
  $$(".tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  $$(".panel").forEach((p) => p.classList.toggle("active", p.id === "tab-" + name));
  location.hash = name;
  // Charts drawn while hidden have zero size: resize the visible ones.
  requestAnimationFrame(() => Object.values(window.tzeroCharts).forEach((c) => c && c.resize()));
  if (name === "runs" && !showTab.loaded.runs) {
    showTab.loaded.runs = true;
    guarded(null, "#runs-msg", loadRuns);
    guarded(null, "#versions-msg", loadVersions);
  }
  if (name === "monitor" && !showTab.loaded.monitor) {
    showTab.loaded.monitor = true;
    guarded(null, "#mon-msg", loadMonitoring);
  }
  if (name === "live" && window.tzeroLive) window.tzeroLive.start();
}
showTab.loaded = {};

/* ---------------------------------------------------------------- charts */

const COLORS = { actual: "#2f6fde", pred: "#e0453a", base: "#9aa3ad" };

function chart(key, elId) {
  if (!window.echarts) throw new Error("ECharts 未加载 not loaded (/static/vendor/echarts.min.js; run make install)");
  let c = window.tzeroCharts[key];
  if (!c || c.isDisposed()) {
    c = window.echarts.init($(elId), null, { renderer: "canvas" });
    window.tzeroCharts[key] = c;
  }
  return c;
}
/** A chart option whose axes are named with their units (`xName`, `yName`). */
function baseOption(title, yName, xName = "日期 date") {
  return {
    animation: false,
    title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13, fontWeight: 600 } },
    tooltip: { trigger: "axis" },
    legend: { top: 4, right: 10 },
    grid: { left: 70, right: 24, top: 40, bottom: 56 },
    dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
    xAxis: { type: "category", boundaryGap: false, data: [], name: xName, nameLocation: "middle", nameGap: 24 },
    yAxis: { type: "value", name: yName, scale: true, nameLocation: "middle", nameGap: 52 },
  };
}

function drawPlot(d) {
  const h = isNum(d.horizon) ? d.horizon : 5;
  const who = d.model || "model";   // the model drawn (its version is in #plot-msg)
  // Windows whose t+5 close is not known yet (plot-data `pending`): predicted only.
  const pend = d.pending && Array.isArray(d.pending.dates) ? d.pending : { dates: [], dates_price: [], return_pred: [], predicted_price: [] };
  const nDone = d.dates.length, nPend = pend.dates.length;
  const pad = (arr, n) => arr.concat(new Array(n).fill(null));
  // Direction: actual (blue) on the 0/1 rows, predicted (red) just inside them, and
  // the rolling 20-session hit rate (grey, right axis) so agreement is readable.
  const dirOpt = baseOption(`方向 Direction (1 涨 up / 0 跌 down) · ${who} · x = 预测日 t`, "", "预测日 t (date)");
  dirOpt.xAxis.data = d.dates;
  dirOpt.xAxis.boundaryGap = true;
  dirOpt.grid.right = 60;
  dirOpt.yAxis = [
    { type: "value", min: -0.25, max: 1.25, interval: 0.25, splitLine: { show: false },
      name: "方向 direction (1 up / 0 down)", nameLocation: "middle", nameGap: 44,
      axisLabel: { formatter: (v) => (v === 1 ? "涨 1" : v === 0 ? "跌 0" : "") } },
    { type: "value", min: 0, max: 1, name: "命中率 hit rate (%)", nameLocation: "middle", nameGap: 40,
      axisLabel: { formatter: (v) => (v * 100).toFixed(0) + "%" } },
  ];
  dirOpt.series = [
    { name: "实际 actual", type: "scatter", symbolSize: 4, data: d.direction_actual, color: COLORS.actual },
    { name: "预测 predicted", type: "scatter", symbolSize: 4, color: COLORS.pred,
      data: d.direction_pred.map((v) => (isNum(v) ? (v > 0.5 ? 0.88 : 0.12) : null)) },
    { name: "20 日命中率 rolling hit", type: "line", yAxisIndex: 1, showSymbol: false, color: COLORS.base,
      lineStyle: { width: 1.2 }, data: rollingHit(d.direction_pred, d.direction_actual, 20) },
  ];
  dirOpt.tooltip.formatter = (ps) => {
    const i = ps[0].dataIndex;
    const dir = (v) => (isNum(v) ? (v > 0.5 ? "涨 up" : "跌 down") : "—");
    const hit = rollingHit.cache ? rollingHit.cache[i] : null;
    return `${esc(d.dates[i])}<br>实际 actual: ${dir(d.direction_actual[i])}<br>预测 predicted: ${dir(d.direction_pred[i])}`
      + `<br>20 日命中率 rolling hit: ${pct(hit, 0)}`;
  };
  chart("direction", "#chart-direction").setOption(dirOpt, true);

  const retOpt = baseOption(`${h} 日涨跌幅 ${h}-session return · ${who} · x = 预测日 t`, "收益 return (%)", "预测日 t (date)");
  retOpt.xAxis.data = d.dates.concat(pend.dates);
  retOpt.yAxis.axisLabel = { formatter: (v) => (v * 100).toFixed(0) + "%" };
  retOpt.tooltip.valueFormatter = (v) => pct(v);
  retOpt.series = [
    { name: "实际 actual", type: "line", showSymbol: false, data: d.return_actual, color: COLORS.actual, lineStyle: { width: 1.2 } },
    { name: "预测 predicted", type: "line", showSymbol: false, data: d.return_pred.concat(pend.return_pred), color: COLORS.pred, lineStyle: { width: 1.2 } },
  ];
  if (nPend) retOpt.series[1].markArea = pendingArea(pend.dates[0], pend.dates[nPend - 1]);
  chart("returns", "#chart-return").setOption(retOpt, true);

  const priceOpt = baseOption(`价格 Price · ${who} · x = 窗口结束日 t+${h}`, "收盘价 close (CNY, qfq)", `t+${h} (date)`);
  // Pending windows: their t+5 session (or t when the calendar has no t+5 yet).
  const pendX = pend.dates_price.map((x, i) => x || pend.dates[i]);
  priceOpt.xAxis.data = d.dates_price.concat(pendX);
  priceOpt.tooltip.valueFormatter = (v) => num(v, 2);
  priceOpt.series = [
    { name: "实际价格 actual", type: "line", showSymbol: false, connectNulls: false, data: pad(d.actual_price, nPend), color: COLORS.actual, lineStyle: { width: 1.5 } },
    { name: "预测价格 predicted", type: "line", showSymbol: false, data: pad(d.predicted_price, nPend), color: COLORS.pred, lineStyle: { width: 1.2 } },
  ];
  if (nPend) {
    // Dashed continuation from the last realised point into the not-yet-known sessions.
    const tail = new Array(Math.max(0, nDone - 1)).fill(null);
    if (nDone) tail.push(d.predicted_price[nDone - 1]);
    priceOpt.series.push({ name: "待实现 pending", type: "line", showSymbol: true, symbolSize: 4, color: COLORS.pred,
      lineStyle: { width: 1.2, type: "dashed" }, data: tail.concat(pend.predicted_price) });
    priceOpt.series[0].markArea = pendingArea(pendX[0], pendX[nPend - 1]);
  }
  chart("price", "#chart-price").setOption(priceOpt, true);
}

function pendingArea(from, to) {
  return { silent: true, itemStyle: { color: "rgba(224,69,58,0.07)" },
    label: { show: true, position: "insideTopRight", align: "right", color: "#b0443c", fontSize: 11, formatter: "待实现 pending ▸" },
    data: [[{ xAxis: from }, { xAxis: to }]] };
}

/** Hit rate over the trailing `w` sessions with both values (null until w/2 are seen). */
function rollingHit(pred, actual, w) {
  const out = [];
  for (let i = 0; i < pred.length; i++) {
    let n = 0, hit = 0;
    for (let j = Math.max(0, i - w + 1); j <= i; j++) {
      if (isNum(pred[j]) && isNum(actual[j])) { n++; if ((pred[j] > 0.5) === (actual[j] > 0.5)) hit++; }
    }
    out.push(n >= w / 2 ? +(hit / n).toFixed(4) : null);
  }
  rollingHit.cache = out;
  return out;
}

/** Share of sessions whose predicted direction matched (excludes nulls). */
function hitRate(pred, actual) {
  let n = 0, hit = 0;
  for (let i = 0; i < pred.length; i++) {
    if (isNum(pred[i]) && isNum(actual[i])) { n++; if ((pred[i] > 0.5) === (actual[i] > 0.5)) hit++; }
  }
  return n ? hit / n : null;
}

let plotYears = 1;
async function loadPlot() {
  const symbol = symbolOf("#plot-symbol");
  if (!symbol) return setMsg("#plot-msg", "请输入股票 enter a symbol", "error");
  setMsg("#plot-msg", "加载中 loading…", "busy");
  const d = await api("GET", "/api/lstm/plot-data" + qs({ symbol, years: plotYears }));
  if (!d || !Array.isArray(d.dates) || !d.dates.length) {
    setMsg("#plot-msg", `${symbol}: 无拟合数据 no fitted data (run tzero demo or tzero train)`, "error");
    return;
  }
  drawPlot(d);
  const hr = hitRate(d.direction_pred || [], d.direction_actual || []);
  const np = d.pending && d.pending.dates ? d.pending.dates.length : 0;
  setMsg("#plot-msg", `${d.symbol} · ${d.model || ""}${d.version_id ? " " + d.version_id : ""} · ${d.years || plotYears} 年 · ${d.dates.length} 点 points`
    + (np ? ` (+${np} 待实现 pending)` : "") + ` · 方向命中率 hit rate ${pct(hr, 1)}`, "ok");
}

/* ---------------------------------------------------------------- train */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function renderJob(job) {
  $("#job").classList.remove("hidden");
  $("#job-id").textContent = job.id || job.job_id || "";
  const st = $("#job-state");
  st.textContent = job.state;
  st.className = "pill state-" + job.state;
  const done = job.progress_done, total = job.progress_total;
  const bar = $("#job-progress-bar");
  if (isNum(total) && total > 0 && isNum(done)) {
    $("#job-progress-text").textContent = `进度 progress ${done}/${total}`;
    bar.style.width = Math.min(100, (100 * done) / total) + "%";
  } else {
    $("#job-progress-text").textContent = job.state === "running" ? "运行中 running…" : "";
    bar.style.width = job.state === "succeeded" ? "100%" : job.state === "running" ? "35%" : "0%";
  }
  bar.className = job.state === "failed" ? "failed" : job.state === "running" || job.state === "pending" ? "running" : "";
  $("#job-error").textContent = job.error ? "错误 error: " + job.error : "";
}

async function pollJob(jobId, onUpdate) {
  let delay = 400;
  for (;;) {
    const job = await api("GET", "/api/jobs/" + encodeURIComponent(jobId));
    onUpdate(job);
    if (job.state === "succeeded" || job.state === "failed") return job;
    await sleep(delay);
    delay = Math.min(2000, delay * 1.3);
  }
}

/** Holdout block: model vs naive baselines (momentum for direction, zero for return). */
function holdoutHtml(h) {
  if (!h || typeof h !== "object") return '<span class="muted">—</span>';
  const cmp = (label, model, base, higherBetter, f) => {
    if (!isNum(model)) return "";
    const better = isNum(base) ? (higherBetter ? model > base : model < base) : null;
    const cls = better === null ? "" : better ? "good" : "bad";
    return `<tr><th>${label}</th><td class="${cls}">${f(model)}</td><td>${isNum(base) ? f(base) : "—"}</td></tr>`;
  };
  const rows = [
    cmp("方向准确率 accuracy", h.accuracy, h.naive_momentum_accuracy, true, (v) => pct(v, 1)),
    cmp("F1", h.f1, h.naive_momentum_f1, true, (v) => num(v, 3)),
    cmp("MSE (5d return)", h.mse, h.naive_zero_mse, false, (v) => v.toExponential(3)),
    cmp("MAE (5d return)", h.mae, h.naive_zero_mae, false, (v) => pct(v, 2)),
  ].join("");
  const known = new Set(["accuracy", "naive_momentum_accuracy", "f1", "naive_momentum_f1", "mse", "naive_zero_mse", "mae", "naive_zero_mae"]);
  const extra = Object.entries(h).filter(([k]) => !known.has(k))
    .map(([k, v]) => `<span class="kv-chip">${esc(k)}: ${esc(fmt(v))}</span>`).join(" ");
  return `<table class="data mini"><thead><tr><th>样本外 holdout</th><th>模型 model</th><th>基线 baseline</th></tr></thead>
    <tbody>${rows}</tbody></table>${extra ? `<div class="extra">${extra}</div>` : ""}`;
}

function renderTrainResult(result) {
  const list = Array.isArray(result) ? result : result ? [result] : [];
  if (!list.length) { $("#train-result").innerHTML = '<p class="muted">无结果 no result</p>'; return; }
  $("#train-result").innerHTML = list.map((r) => `
    <div class="result ${r.deployed ? "deployed" : "rejected"}">
      <div class="result-head">
        <b>${esc(r.symbol)}</b>
        <span class="pill">${esc(r.status ?? "")}</span>
        <span class="pill ${r.deployed ? "state-succeeded" : "state-failed"}">${r.deployed ? "已部署 deployed" : "未部署 not deployed"}</span>
        ${r.version_id ? `<code>${esc(r.version_id)}</code>` : ""}
        <span class="muted">${esc(r.training_type ?? "")}${r.trigger_type ? " · " + esc(r.trigger_type) : ""}${isNum(r.seconds) ? ` · ${r.seconds.toFixed(1)} s` : ""}</span>
      </div>
      ${r.reason ? `<div class="muted">原因 reason: ${esc(r.reason)}</div>` : ""}
      ${holdoutHtml(r.holdout)}
    </div>`).join("");
}

async function train() {
  const symbol = symbolOf("#symbol");
  if (!symbol) return setMsg("#train-msg", "请输入股票 enter a symbol", "error");
  $("#train-result").innerHTML = "";
  setMsg("#train-msg", "提交训练 submitting…", "busy");
  const body = { symbol, fast_training: $("#fast-training").checked, do_cv_tune: $("#cv-tune").checked,
    incremental: $("#incremental-training").checked };
  if ($("#train-start").value) body.start = $("#train-start").value;
  if ($("#train-end").value) body.end = $("#train-end").value;
  const { job_id } = await api("POST", "/api/lstm/train", body);
  setMsg("#train-msg", "");
  renderJob({ id: job_id, state: "pending" });
  const job = await pollJob(job_id, renderJob);
  if (job.state === "succeeded") {
    renderTrainResult(job.result);
    setMsg("#train-msg", `${symbol} 训练完成 training finished`, "ok");
    $("#plot-symbol").value = symbol;
    loadPlot().catch((e) => setMsg("#plot-msg", e.message, "error"));
    showTab.loaded = {};  // runs/versions/monitoring changed: reload on next visit
  } else {
    setMsg("#train-msg", `${symbol} 训练失败 training failed`, "error");
  }
}

/* ---------------------------------------------------------------- predict */

function loadStoredPreds() {
  try { return JSON.parse(localStorage.getItem(PRED_KEY) || "{}"); } catch { return {}; }
}
const predictions = loadStoredPreds();

function renderPredictions() {
  const rows = Object.values(predictions).sort((a, b) => a.symbol.localeCompare(b.symbol));
  $("#pred-table tbody").innerHTML = rows.map((p) => {
    const d = dirLabel(p);
    const health = p.health && typeof p.health === "object"
      ? (p.health.healthy === false ? "✗ " + (p.health.reason || p.health.reasons || "") : "✓") : fmt(p.health);
    return `<tr data-symbol="${esc(p.symbol)}">
      <td><a href="#" class="sym">${esc(p.symbol)}</a></td><td>${esc(p.predict_date ?? "")}</td>
      <td class="${d}">${DIR_TEXT[d]}</td>
      <td class="${d}">${pct(p.magnitude)}</td>
      <td>${pct(p.prob_up, 1)}</td><td>${pct(p.prob_down, 1)}</td>
      <td><span class="pill src-${esc(p.source)}">${esc(p.source)}</span></td>
      <td class="muted" title="${esc(JSON.stringify(p.health ?? null))}">${esc(health)}</td></tr>`;
  }).join("") || '<tr><td colspan="8" class="muted">尚无预测 no predictions yet</td></tr>';
}

async function predict(symbol) {
  const trigger = $("#trigger-train").checked;
  const p = await api("GET", "/api/lstm/predict" + qs({ symbol, use_fallback: $("#use-fallback").checked ? 1 : 0,
                                                          trigger_train_async: trigger ? 1 : 0 }));
  if (p.job_id) setMsg("#train-msg", `触发任务 triggers job ${p.job_id}`, "ok");
  predictions[p.symbol || symbol] = { ...p, symbol: p.symbol || symbol };
  localStorage.setItem(PRED_KEY, JSON.stringify(predictions));
  renderPredictions();
  return p;
}

/* ---------------------------------------------------------------- signals */

function signalCard(s) {
  const band = Array.isArray(s.return_band) ? `[${pct(s.return_band[0])}, ${pct(s.return_band[1])}]` : "—";
  const votes = Object.entries(s.model_votes || {}).map(([m, v]) => {
    const d = dirLabel(v);
    const ver = (s.model_versions || {})[m];
    return `<tr><th title="${esc(ver || "")}">${esc(m)}</th><td class="${d}">${esc(DIR_TEXT[d])}</td>
      <td>${pct(v.expected_return)}</td><td>${pct(v.prob_up, 1)}</td></tr>`;
  }).join("") + Object.entries(s.blocked_models || {}).map(([m, why]) =>
    `<tr class="blocked" title="${esc(why)}"><th>${esc(m)}</th><td colspan="3" class="down">已屏蔽 blocked by research</td></tr>`).join("");
  const er = s.expected_return, sd = dirLabel(s);
  return `<div class="signal" data-symbol="${esc(s.ts_code)}" data-direction="${esc(sd)}">
    <div class="sig-head"><b>${esc(s.ts_code)}</b><span class="muted">as of ${esc(s.as_of)}${s.horizon ? ` · ${esc(s.horizon)}d` : ""}</span></div>
    <div class="sig-nums">
      <div><label>方向 direction · 期望收益 E[r]</label><span class="big ${sd}">${esc(DIR_TEXT[sd])} ${pct(er)}</span><small>区间 band ${band}</small></div>
      <div><label>上涨 / 下跌 P(up/down)</label><span class="big">${pct(s.prob_up, 0)} / ${pct(s.prob_down, 0)}</span><small>置信度 confidence ${num(s.confidence, 2)}</small></div>
      <div><label>状态 Regime</label><span class="big">${esc(s.regime ?? "—")}</span><small>p = ${num(s.regime_prob, 2)}</small></div>
      <div><label>T+0 强度 intensity</label><span class="big t0-${esc(s.t0_intensity)}">${esc(s.t0_intensity ?? "—")}</span><small>${esc(s.t0_plan ?? "")}${s.plan_reason ? " *" : ""}</small></div>
    </div>
    ${(s.risk_labels || []).length ? `<div class="risk">${s.risk_labels.map((r) => `<span class="pill warn">${esc(r)}</span>`).join(" ")}</div>` : ""}
    <table class="data mini"><thead><tr><th>模型 model</th><th>方向 dir</th><th>E[r]</th><th>P(up)</th></tr></thead><tbody>${votes}</tbody></table>
    ${s.plan_reason ? `<p class="plan-why">* 计划 plan: ${esc(s.plan_reason)}</p>` : ""}
    ${s.explanation ? `<p class="explain">${esc(s.explanation)}</p>` : ""}
    <button class="btn-explain" data-symbol="${esc(s.ts_code)}">驱动因素 Drivers</button>
    <div class="drivers"></div>
  </div>`;
}

function explanationHtml(x) {
  const list = (x.explanations || []).map((e) => {
    const rows = (e.drivers || []).map((d) =>
      `<tr><th>${esc(d.feature)}</th><td class="${d.contribution >= 0 ? "up" : "down"}">${num(d.contribution, 4)}</td><td>${esc(d.text)}</td></tr>`).join("");
    const days = (e.days || []).map((d) => `${esc(d.date)} (${pct(d.weight, 0)})`).join(", ");
    const stocks = (e.stocks || []).map((d) => `${esc(d.ts_code)} (${pct(d.weight, 0)})`).join(", ");
    const imp = (e.importance || []).map((d) => `${esc(d.feature)} (${pct(d.weight, 0)})`).join(", ");
    return `<div class="model-expl"><b title="${esc(e.version_id)}">${esc(e.model)}</b>
      <span class="muted">${esc(e.method)} · ${esc(e.target)}</span>
      ${rows ? `<table class="data mini"><tbody>${rows}</tbody></table>` : ""}
      ${days ? `<small>依据交易日 days: ${days}</small><br>` : ""}
      ${stocks ? `<small>参考股票 stocks: ${stocks}</small><br>` : ""}
      ${imp ? `<small>变量重要性 importance: ${imp}</small>` : ""}</div>`;
  }).join("");
  return list || `<p class="muted">${esc(x.text || "no explanation")}</p>`;
}

async function explainSignal(btn) {
  const box = btn.parentElement.querySelector(".drivers");
  box.textContent = "计算中 computing…";
  try {
    const x = await api("GET", `/api/signals/${encodeURIComponent(btn.dataset.symbol)}/explain`);
    box.innerHTML = explanationHtml(x);
  } catch (e) {
    box.textContent = e.message;
  }
}

async function loadSignals() {
  const symbols = $("#signal-symbols").value.split(/[\s,，]+/).map((x) => x.trim().toUpperCase()).filter(Boolean);
  setMsg("#signals-msg", "加载中 loading…", "busy");
  $("#signals").innerHTML = "";
  try {
    const list = await api("GET", "/api/signals" + qs({ symbols: symbols.join(",") }));
    const arr = Array.isArray(list) ? list : list && Array.isArray(list.signals) ? list.signals : [];
    $("#signals").innerHTML = arr.map(signalCard).join("");
    setMsg("#signals-msg", arr.length ? `${arr.length} 个信号 signals` : "无信号 no signals", "ok");
  } catch (e) {
    if (e.status === 404) {
      setMsg("#signals-msg", "尚无演示模型，无法生成信号。请先运行 `make demo`（tzero demo）训练信号模型。"
        + " No demo models yet: run `make demo` first. (" + e.message + ")", "error");
    } else throw e;
  }
}

/* ---------------------------------------------------------------- runs & versions */

const RUN_COLS = ["created_at", "symbol", "status", "training_type", "trigger_type", "deployed", "reason",
  "version_id", "data_end", "duration_seconds"];

function rowsOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

async function loadRuns() {
  setMsg("#runs-msg", "加载中 loading…", "busy");
  const data = await api("GET", "/api/lstm/training-runs" + qs({ symbol: symbolOf("#runs-symbol"), limit: $("#runs-limit").value }));
  const runs = rowsOf(data, "runs");
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))].filter((k) => k !== "id");
  const cols = [...RUN_COLS.filter((c) => keys.includes(c)), ...keys.filter((c) => !RUN_COLS.includes(c))];
  listTable($("#runs-table"), runs, cols);
  $$("#runs-table tbody tr").forEach((tr, i) => tr.classList.add("run-" + (runs[i].status || "")));
  setMsg("#runs-msg", `${runs.length} 条 runs`, "ok");
}

/** Holdout direction accuracy of each version (oldest first) against the naive momentum baseline. */
function drawVersionsChart(rows) {
  const vs = rows.slice().reverse();
  const h = (v) => v.holdout || {};
  const opt = baseOption("版本样本外方向准确率 Holdout accuracy by version vs naive momentum", "");
  opt.xAxis = { type: "category", data: vs.map((v) => v.version_id), axisLabel: { fontSize: 10, hideOverlap: true },
                name: "版本 version", nameLocation: "middle", nameGap: 24 };
  opt.yAxis = { type: "value", min: 0, max: 1, name: "准确率 accuracy (%)", nameLocation: "middle", nameGap: 40,
                axisLabel: { formatter: (v) => (v * 100).toFixed(0) + "%" } };
  opt.dataZoom = [];
  opt.grid.bottom = 44;
  opt.tooltip.valueFormatter = (v) => pct(v, 1);
  opt.series = [
    { name: "模型 model", type: "bar", barMaxWidth: 28, color: COLORS.actual,
      data: vs.map((v) => ({ value: isNum(h(v).accuracy) ? h(v).accuracy : null,
        itemStyle: v.current ? { color: "#1a9a55" } : undefined })) },
    { name: "基线 naive", type: "line", symbol: "diamond", symbolSize: 8, color: COLORS.base,
      data: vs.map((v) => (isNum(h(v).naive_momentum_accuracy) ? h(v).naive_momentum_accuracy : null)) },
  ];
  chart("versions", "#chart-versions").setOption(opt, true);
}

async function loadVersions() {
  setMsg("#versions-msg", "加载中 loading…", "busy");
  const data = await api("GET", "/api/lstm/versions" + qs({ symbol: symbolOf("#versions-symbol") }));
  const rows = rowsOf(data, "versions");
  const h = (v) => {
    const x = v.holdout || {};
    return isNum(x.accuracy) ? `acc ${pct(x.accuracy, 1)} (naive ${pct(x.naive_momentum_accuracy, 1)}) · mse ${isNum(x.mse) ? x.mse.toExponential(2) : "—"}` : fmt(v.holdout);
  };
  $("#versions-table tbody").innerHTML = rows.map((v) => `<tr class="${v.current ? "current" : ""}">
    <td><code>${esc(v.version_id)}</code></td><td>${esc(v.model ?? "")}</td><td>${esc(v.symbol)}</td><td>${esc(v.status ?? "")}</td>
    <td>${v.current ? '<span class="pill state-succeeded">当前 current</span>' : ""}</td><td>${fmt(!!v.kept)}</td>
    <td>${esc(String(v.training_time ?? "").slice(0, 19))}</td><td>${esc(v.data_end ?? "")}</td><td class="small">${esc(h(v))}</td>
    <td>${v.kept && !v.current ? `<button class="rollback" data-version="${esc(v.version_id)}">回滚 Rollback</button>` : ""}</td></tr>`).join("")
    || '<tr><td colspan="10" class="muted">无版本 no versions (run tzero demo)</td></tr>';
  const models = [...new Set(rows.map((v) => v.model).filter(Boolean))];
  setMsg("#versions-msg", `${rows.length} 个版本 versions` + (models.length ? ` · ${models.join(", ")}` : ""), "ok");
  drawVersionsChart(rows);
}

async function rollback(versionId, btn) {
  if (!confirm(`回滚到 roll back to ${versionId}?`)) return;
  await guarded(btn, "#versions-msg", async () => {
    const r = await api("POST", "/api/lstm/rollback", { version_id: versionId });
    await loadVersions();
    showTab.loaded.monitor = false;
    setMsg("#versions-msg", `已回滚 rolled back → ${versionId}` + (r && r.symbol ? ` (${r.symbol})` : ""), "ok");
  });
}

/* ---------------------------------------------------------------- monitoring & alerts */

async function loadMonitoring() {
  setMsg("#mon-msg", "加载中 loading…", "busy");
  const data = await api("GET", "/api/lstm/monitoring" + qs({ symbol: symbolOf("#mon-symbol") }));
  const list = Array.isArray(data) ? data : [data];
  $("#monitoring").innerHTML = list.map(kvTable).join("");
  setMsg("#mon-msg", "已更新 updated " + new Date().toLocaleTimeString(), "ok");
}

async function checkDecay() {
  setMsg("#decay-msg", "检测中 checking…", "busy");
  const data = await api("GET", "/api/lstm/performance-decay");
  const list = Array.isArray(data) ? data : data && Array.isArray(data.results) ? data.results : [data];
  $("#decay").innerHTML = list.map((d) => {
    const trig = d && d.triggered;
    return `<div class="decay ${trig ? "bad" : "good"}"><b>${esc(d.symbol ?? "")}</b>
      <span class="pill ${trig ? "state-failed" : "state-succeeded"}">${trig ? "衰减 decay triggered" : "正常 no decay"}</span>${kvTable(d)}</div>`;
  }).join("");
  setMsg("#decay-msg", "已检测 checked " + new Date().toLocaleTimeString(), "ok");
}

async function alerts(fire) {
  setMsg("#alerts-msg", fire ? "发送中 sending…" : "检查中 checking…", "busy");
  const body = { fire };
  const syms = $("#alert-symbols").value.split(/[\s,，]+/).map((x) => x.trim().toUpperCase()).filter(Boolean);
  if (syms.length) body.symbols = syms;
  const data = await api("POST", "/api/lstm/alerts", body);
  const list = rowsOf(data, "alerts");
  $("#alerts-table tbody").innerHTML = list.map((a) => `<tr class="sev-${esc(a.severity)}">
    <td>${esc(a.alert_type)}</td><td>${esc(a.symbol ?? "")}</td><td><span class="pill sev-${esc(a.severity)}">${esc(a.severity)}</span></td>
    <td>${esc(a.message)}</td><td>${esc(fmt(a.webhook_status))}</td></tr>`).join("")
    || '<tr><td colspan="5" class="muted">无告警 no alerts</td></tr>';
  setMsg("#alerts-msg", `${list.length} 条告警 alerts` + (fire ? " · 已发送 fired" : ""), list.length ? "error" : "ok");
}

/* ---------------------------------------------------------------- wiring */

function on(id, fn, msgId) {
  const btn = $(id);
  btn.addEventListener("click", (ev) => { ev.preventDefault(); guarded(btn, msgId, fn); });
}

async function health() {
  const el = $("#health");
  try {
    const h = await api("GET", "/api/health");
    el.textContent = "API ✓" + (h && h.version ? " v" + h.version : "") + (h && h.jobs_running ? ` · ${h.jobs_running} job` : "");
    el.className = "pill state-succeeded";
    el.title = JSON.stringify(h);
  } catch (e) {
    el.textContent = "API ✗";
    el.className = "pill state-failed";
    el.title = e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const tok = $("#token");
  tok.value = localStorage.getItem(TOKEN_KEY) || "";
  tok.addEventListener("input", () => localStorage.setItem(TOKEN_KEY, tok.value.trim()));

  $$(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $$("#years-seg button").forEach((b) => b.addEventListener("click", () => {
    plotYears = +b.dataset.years;
    $$("#years-seg button").forEach((x) => x.classList.toggle("active", x === b));
    guarded(null, "#plot-msg", loadPlot);
  }));

  on("#btn-train", train, "#train-msg");
  on("#btn-predict", async () => {
    const s = symbolOf("#symbol");
    setMsg("#pred-msg", "预测中 predicting…", "busy");
    const p = await predict(s);
    setMsg("#pred-msg", `${p.symbol} ${p.predict_date ?? ""}: ${DIR_TEXT[dirLabel(p)]} ${pct(p.magnitude)} (${p.source})`, "ok");
  }, "#pred-msg");
  on("#btn-predict-all", async () => {
    const syms = new Set([...Object.keys(predictions), symbolOf("#symbol")].filter(Boolean));
    const errs = [];
    for (const s of syms) { try { await predict(s); } catch (e) { errs.push(`${s}: ${e.message}`); } }
    setMsg("#pred-msg", errs.length ? errs.join("; ") : `${syms.size} 只已预测 predicted`, errs.length ? "error" : "ok");
  }, "#pred-msg");
  on("#btn-plot", loadPlot, "#plot-msg");
  on("#btn-signals", loadSignals, "#signals-msg");
  $("#signals").addEventListener("click", (ev) => {
    const btn = ev.target.closest(".btn-explain");
    if (btn) { ev.preventDefault(); explainSignal(btn); }
  });
  on("#btn-runs", loadRuns, "#runs-msg");
  on("#btn-versions", loadVersions, "#versions-msg");
  on("#btn-update-accuracy", async () => {
    const r = await api("POST", "/api/lstm/update-accuracy", { symbol: symbolOf("#maint-symbol") });
    $("#maint-result").innerHTML = kvTable(r);
    setMsg("#maint-msg", "准确性已回填 accuracy updated", "ok");
  }, "#maint-msg");
  on("#btn-check-triggers", async () => {
    const body = { run: $("#triggers-run").checked };
    const s = symbolOf("#maint-symbol");
    if (s) body.symbol = s;
    const r = await api("POST", "/api/lstm/check-triggers", body);
    const rows = rowsOf(r, "triggers");
    $("#maint-result").innerHTML = '<div class="scroll"><table class="data" id="triggers-table"><thead></thead><tbody></tbody></table></div>';
    listTable($("#triggers-table"), rows);
    setMsg("#maint-msg", `触发检查完成 triggers checked (as of ${r.as_of ?? "—"})`, "ok");
    if (r.job_id) {
      const job = await pollJob(r.job_id, (j) => setMsg("#maint-msg",
        `训练任务 job ${r.job_id}: ${j.state}` + (isNum(j.progress_total) ? ` ${j.progress_done ?? 0}/${j.progress_total}` : ""), "busy"));
      if (job.state === "succeeded") listTable($("#triggers-table"), rowsOf(job.result, "triggers"));
      setMsg("#maint-msg", `训练任务 job ${r.job_id}: ${job.state}` + (job.error ? " — " + job.error : ""), job.state === "succeeded" ? "ok" : "error");
    }
  }, "#maint-msg");
  on("#btn-monitoring", loadMonitoring, "#mon-msg");
  on("#btn-decay", checkDecay, "#decay-msg");
  on("#btn-alerts", () => alerts(false), "#alerts-msg");
  on("#btn-alerts-fire", () => alerts(true), "#alerts-msg");

  $("#pred-table").addEventListener("click", (ev) => {
    const a = ev.target.closest("a.sym");
    if (!a) return;
    ev.preventDefault();
    const s = a.closest("tr").dataset.symbol;
    $("#symbol").value = s; $("#plot-symbol").value = s;
    guarded(null, "#plot-msg", loadPlot);
  });
  $("#versions-table").addEventListener("click", (ev) => {
    const b = ev.target.closest("button.rollback");
    if (b) rollback(b.dataset.version, b);
  });
  window.addEventListener("resize", () => Object.values(window.tzeroCharts).forEach((c) => c && c.resize()));

  renderPredictions();
  health();
  loadPlot().catch((e) => setMsg("#plot-msg", e.message, e.status === 404 ? "" : "error"));
  const tab = (location.hash || "").slice(1);
  showTab(["train", "runs", "monitor", "live"].includes(tab) ? tab : "train");
});
