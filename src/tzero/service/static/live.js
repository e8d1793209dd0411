/* tzero live board (issue 13): the 盘中看板 tab, fed by server-sent events of /api/live/stream.
 *
 * `tzero watch` (another process) stores each bar's signals; the service pushes them:
 * `board` (the whole board), `signal` (one new row, id = live_signal id), `watch` (status line:
 * running, data stale since …, finished), `paper` (paper runs changed), `error` (app store down).
 * EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed or doubled.
 * window.tzeroLive.state holds what is shown, for the browser test.
 */
"use strict";

(function () {
  const state = { rows: {}, order: [], counts: {}, watch: null, events: 0, signals: 0, source: null };
  const DIR = { up: "涨 ▲ up", neutral: "中性 · neutral", down: "跌 ▼ down" };

  function liveRow(r) {
    const cnt = state.counts[r.ts_code] || 0;
    return `<tr data-ts-code="${esc(r.ts_code)}" data-signal-id="${r.id}">
      <td>${esc(r.ts_code)}</td><td>${esc((r.bar_time || "").slice(0, 16))}</td>
      <td><span class="pill">${esc(r.t0_intensity)}</span></td>
      <td title="${esc(r.plan_reason)}">${esc(r.plan)}${r.plan_reason ? " *" : ""}</td>
      <td>${esc(DIR[r.direction] || r.direction || "—")}</td>
      <td>${pct(r.prob_up, 1)}</td><td>${pct(r.expected_return, 2)}</td>
      <td>${pct(r.expected_volatility, 2)}</td><td>${isNum(r.confidence) ? r.confidence.toFixed(2) : "—"}</td>
      <td>${r.orders || 0}</td><td>${cnt}</td></tr>`;
  }

  function render() {
    const body = $("#live-table tbody");
    if (!state.order.length) {
      body.innerHTML = `<tr><td colspan="11" class="muted">还没有信号：运行 <code>tzero watch</code>
        no signals yet: run <code>tzero watch --replay 2020-04-01 --symbols 600009.SH</code></td></tr>`;
    } else {
      body.innerHTML = state.order.map((c) => liveRow(state.rows[c])).join("");
    }
    $("#live-count").textContent = `${state.signals} 条信号 signals · ${state.events} 次推送 events received`;
  }

  function renderWatch(w) {
    state.watch = w;
    const stale = $("#live-stale");
    if (!w) {
      $("#live-watch").textContent = "还没有盘中监控 no watch yet";
      stale.classList.add("hidden");
      return;
    }
    const mode = w.mode === "replay" ? "回放 replay" : "实时 live";
    $("#live-watch").textContent = `watch ${w.run_id} · ${mode} ${w.freq} · ${w.status}` +
      ` · 最新K线 last bar ${(w.last_bar_at || "—").slice(0, 16)} · ${(w.symbols || []).join(", ")}`;
    stale.classList.toggle("hidden", !w.stale_since);
    stale.textContent = w.stale_since ? `数据延迟 data stale since ${w.stale_since} UTC` : "";
  }

  function setBoard(b) {
    state.rows = {}; state.order = []; state.counts = {};
    state.signals = b.signals || 0;
    const syms = (b.watch && b.watch.symbols) || [];
    syms.forEach((c) => { state.order.push(c); state.counts[c] = 0; });
    (b.holdings || []).forEach((r) => {
      if (!state.order.includes(r.ts_code)) state.order.push(r.ts_code);
      state.rows[r.ts_code] = r;
      state.counts[r.ts_code] = r.n_signals || 0;
    });
    state.order = state.order.filter((c) => state.rows[c]);
    renderWatch(b.watch);
    render();
  }

  function addSignal(r) {
    if (state.watch && r.run_id !== state.watch.run_id) return;
    if (!state.rows[r.ts_code]) state.order.push(r.ts_code);
    state.rows[r.ts_code] = r;
    state.counts[r.ts_code] = (state.counts[r.ts_code] || 0) + 1;
    state.signals += 1;
    render();
  }

  function cny(x) { return isNum(x) ? x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : "—"; }

  function renderPaper(runs) {
    const body = $("#paper-table tbody");
    body.innerHTML = runs.length ? runs.map((r) => `<tr data-run-id="${esc(r.run_id)}">
      <td>${esc(r.run_id)}</td><td>${esc(r.rule)}</td><td>${esc(r.status)}</td><td>${esc(r.symbols.join(","))}</td>
      <td>${esc(r.first_bar || "—")}</td><td>${esc(r.last_bar || "—")}</td><td>${cny(r.t0_pnl)}</td>
      <td>${cny(r.fees)}</td><td>${r.orders}</td><td>${esc(r.gate)}</td></tr>`).join("")
      : `<tr><td colspan="10" class="muted">还没有模拟交易 no paper runs: <code>tzero paper start --symbols 600009.SH</code></td></tr>`;
  }

  async function loadPaper() {
    try {
      const [runs, st] = await Promise.all([api("GET", "/api/paper/runs"), api("GET", "/api/paper/status")]);
      renderPaper(runs);
      $("#paper-gate-table tbody").innerHTML = st.gate.length ? st.gate.map((g) => `<tr>
        <td>${esc(g.rule)}</td><td>${g.samples.length}</td><td>${g.passing} / ${st.samples_needed}</td>
        <td>${g.ready ? "✓ ready" : "✗ no"}</td><td>${esc(g.why)}</td></tr>`).join("")
        : `<tr><td colspan="5" class="muted">—</td></tr>`;
      setMsg("#paper-msg", "");
    } catch (e) {
      setMsg("#paper-msg", e.message, "error");
    }
  }

  function conn(text, kind) {
    const el = $("#live-conn");
    el.textContent = text;
    el.className = "pill" + (kind ? " " + kind : "");
  }

  function start() {
    if (state.source) return;
    if (!window.EventSource) { setMsg("#live-msg", "this browser has no EventSource", "error"); return; }
    const src = new EventSource("/api/live/stream");
    state.source = src;
    const on = (ev, fn) => src.addEventListener(ev, (m) => { state.events += 1; fn(JSON.parse(m.data)); });
    src.onopen = () => { conn("已连接 connected", "ok"); setMsg("#live-msg", ""); };
    src.onerror = () => conn("重连中 reconnecting…", "warn");
    on("board", (b) => { setBoard(b); loadPaper(); });
    on("signal", addSignal);
    on("watch", (w) => { renderWatch(w); render(); });
    on("paper", (p) => { renderPaper(p.runs); loadPaper(); });
    on("error", (e) => setMsg("#live-msg", e.detail, "error"));
  }

  window.tzeroLive = { start, state };
})();
