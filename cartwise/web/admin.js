// The Cartwise operations dashboard: business results, price and inventory, data operations,
// models and rules. Every number comes from an admin API call made with the key the operator
// typed (kept in this tab's sessionStorage); without a valid key the API refuses and the page
// asks again.
"use strict";
const $ = (id) => document.getElementById(id);
const {esc, fmt} = Plot;
let adminKey = sessionStorage.getItem("cartwise-admin-key") || "";

class ApiError extends Error {
  constructor(status, body) { super(body.message || `HTTP ${status}`); this.status = status; this.field = body.field; this.hint = body.hint; }
}
async function adm(path, {method = "GET", body} = {}) {
  const headers = {"Authorization": `Bearer ${adminKey}`};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await r.text();
  let parsed; try { parsed = text ? JSON.parse(text) : {}; } catch (e) { parsed = {message: text}; }
  if (!r.ok) {
    if (r.status === 401 || r.status === 403) askForKey(parsed.message || "refused");
    throw new ApiError(r.status, parsed);
  }
  return parsed;
}

// Formatting -------------------------------------------------------------------------------
const pct = (v) => v == null ? "–" : `${(100 * v).toFixed(v < 0.01 && v > 0 ? 2 : 1)}%`;
const money = (v) => v == null ? "–" : Number(v).toLocaleString(undefined, {maximumFractionDigits: 0});
const day = (ms) => new Date(ms).toISOString().slice(5, 10);
const when = (ms) => ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 16) : "–";
const ago = (ms) => { if (ms == null) return "–"; const s = ms / 1000; return s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(0)} min` : s < 172800 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(1)} days`; };
// columns: [[key, label, format?, numeric?]]
function table(rows, columns, empty = "Nothing yet in this window.") {
  if (!rows || !rows.length) return `<p class="empty">${esc(empty)}</p>`;
  const head = columns.map(([, label, , num]) => `<th class="${num ? "num" : ""}">${esc(label)}</th>`).join("");
  const body = rows.map(r => `<tr>${columns.map(([key, , f, num]) => {
    const v = typeof key === "function" ? key(r) : r[key];
    return `<td class="${num ? "num" : ""}">${f === "html" ? v : esc(f ? f(v, r) : v ?? "–")}</td>`;
  }).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
const panel = (title, inner, id = "") => `<section class="panel"${id ? ` id="${id}"` : ""}><h3>${esc(title)}</h3>${inner}</section>`;
const kpi = (label, value, id = "") => `<div class="kpi"${id ? ` id="${id}"` : ""}><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
const days = () => $("days").value;

const versionSeries = (report, key) => [...new Set(report.daily_by_model_version.map(r => r.model_version))].map(v => ({
  name: v || "(none)", points: report.daily_by_model_version.filter(r => r.model_version === v).map(r => [r.day_ms, r[key]])}));
// Business ---------------------------------------------------------------------------------
async function business() {
  const report = await adm(`/v1/insights/business?days=${days()}`);
  const sum = (k) => report.daily.reduce((s, r) => s + (r[k] || 0), 0);
  const shown = sum("items_shown");
  const placements = [...new Set(report.daily.map(r => r.placement))];
  const series = (key) => placements.map(p => ({name: p, points: report.daily.filter(r => r.placement === p).map(r => [r.day_ms, r[key]])}));
  const positions = Object.entries(report.ctr_by_position || {});
  const rate = (r) => r ? `${pct(r.rate)} (${pct(r.low)}–${pct(r.high)})` : "–";
  return `<div class="kpis">${kpi("answers shown", report.daily.reduce((s, r) => s + r.answers, 0).toLocaleString(), "kpi-answers")}${kpi("click-through", pct(shown ? sum("clicks") / shown : null))}${kpi("add-to-cart rate", pct(shown ? sum("add_to_carts") / shown : null))}${kpi("conversion", pct(shown ? sum("purchases") / shown : null))}${kpi("revenue", money(report.revenue.total))}${kpi("credited to search & recommendations", pct(report.revenue.credited_share))}</div>
  <p class="muted">Window: ${esc(report.days)} days to ${esc(when(report.as_of_ms))} UTC (the newest event or answer).</p>
  <div class="cols">${panel("Click-through per placement, by day", Plot.lines(series("ctr"), {xLabel: day, yFormat: pct}))}
  ${panel("Conversion per placement, by day", Plot.lines(series("conversion"), {xLabel: day, yFormat: pct}))}
  ${panel("Funnel: items shown to purchases", Plot.funnel([{label: "shown", value: shown}, {label: "clicked", value: sum("clicks")}, {label: "in cart", value: sum("add_to_carts")}, {label: "bought", value: sum("purchases")}]))}
  ${panel("Click-through by position (95% interval): the position-bias curve", Plot.lines([{name: "CTR", points: positions.map(([p, r]) => [+p, r.rate]), band: positions.map(([p, r]) => [+p, r.low, r.high])}], {xLabel: (x) => `#${x}`, yFormat: pct}))}</div>
  ${panel("Click-through per model version, by day", Plot.lines(versionSeries(report, "ctr"), {xLabel: day, yFormat: pct}), "version-days")}
  ${panel("Per placement and model version (95% Wilson intervals)", table(report.groups, [["placement", "placement"], ["model_version", "model version"], ["answers", "answers", null, 1], ["items_shown", "items shown", null, 1], ["ctr", "CTR", rate, 1], ["add_to_cart_rate", "add-to-cart", rate, 1], ["conversion", "conversion", rate, 1]]), "per-version")}
  <div class="cols">${panel("Revenue credited, per placement", table(report.revenue.by_placement, [["placement", "placement"], ["purchases", "purchases", null, 1], ["revenue", "revenue", money, 1]], "No purchase credited to an answer in this window."))}
  ${panel("Per model version (window)", table(report.by_model_version, [["model_version", "version"], ["items_shown", "shown", null, 1], ["ctr", "CTR", pct, 1], ["add_to_cart_rate", "cart", pct, 1], ["conversion", "conversion", pct, 1]]))}
  ${panel("Top queries", table(report.top_queries, [["query", "query"], ["searches", "searches", null, 1], ["clicks", "clicks", null, 1], ["purchases", "purchases", null, 1]]), "top-queries")}
  ${panel("Zero-result queries", table(report.zero_result_queries, [["query", "query"], ["zero_results", "searches without results", null, 1], ["last_ms", "last", when]], "No search came back empty."), "zero-queries")}
  ${panel("Queries with clicks but no purchase", table(report.clicked_not_bought_queries, [["query", "query"], ["clicks", "clicks", null, 1], ["searches", "searches", null, 1]]))}
  ${panel("Top products (last 7 days)", table(report.top_products, [["title", "product"], ["last_7_days", "bought", null, 1], ["revenue_7_days", "revenue", money, 1]]))}
  ${panel("Rising products (last 7 days vs the 4 weeks before)", table(report.rising_products, [["title", "product"], ["last_7_days", "last 7 days", null, 1], ["prior_28_days", "28 days before", null, 1], ["growth", "growth ×", null, 1]], "Nothing is rising fast."))}</div>`;
}

// Price & inventory ------------------------------------------------------------------------
async function inventory() {
  const r = await adm(`/v1/insights/inventory?days=${days()}`);
  const trend = r.demand_trend.map(t => ({...t, spark: Plot.sparkline(t.daily, {band: [t.next_7_days_low / 7, t.next_7_days_high / 7]})}));
  const dir = (d) => `<span class="${d === "up" ? "up" : d === "down" ? "down" : ""}">${esc(d)}</span>`;
  return `<div class="kpis">${kpi("out-of-stock items", r.stock_outs.items.toLocaleString(), "kpi-stockouts")}${kpi("of them still in demand", r.stock_outs.with_demand.toLocaleString())}${kpi("purchases lost (est.)", fmt(r.stock_outs.lost_purchases))}${kpi("revenue lost (est.)", money(r.stock_outs.lost_revenue))}${kpi("slow movers", r.slow_movers.items.toLocaleString())}</div>
  <p class="muted">Window: ${esc(r.days)} days to ${esc(when(r.as_of_ms))} UTC. Interest = views, clicks and add-to-carts.</p>
  <div class="cols">${panel("Interest and purchases by price band", Plot.bars(r.price_bands.map(b => ({label: b.price_band, values: [b.interest, b.purchases]})), ["interest", "purchases"]), "price-bands")}
  ${panel("Revenue by department", Plot.bars(r.departments.slice(0, 10).map(d => ({label: d.department, values: [d.revenue]})), ["revenue"], {yFormat: money}))}</div>
  ${panel("Price bands", table(r.price_bands, [["price_band", "price"], ["items", "items", null, 1], ["out_of_stock", "out of stock", null, 1], ["interest", "interest", null, 1], ["purchases", "purchases", null, 1], ["conversion", "purchases / interest", pct, 1], ["revenue", "revenue", money, 1]]))}
  ${panel("Demand trend per department: daily purchases over 28 days; last week against the 3 before (95% interval); next week's expected purchases", table(trend, [["department", "department"], ["spark", "28 days", "html"], ["last_7_days", "last 7 days", null, 1], ["ratio", "rate ratio", (v, t) => v == null ? "new" : `${v.toFixed(2)} (${t.ratio_low.toFixed(2)}–${t.ratio_high.toFixed(2)})`, 1], [(t) => dir(t.direction), "trend", "html"], ["next_7_days", "next 7 days", (v, t) => `${v} (${t.next_7_days_low}–${t.next_7_days_high})`, 1]], "No purchases in the 28 days to the window's end."), "demand-trend")}
  <div class="cols">${panel("Looked at often, rarely bought", table(r.viewed_not_bought, [["title", "product"], ["price", "price", fmt, 1], ["interest", "interest", null, 1], ["purchases", "bought", null, 1], ["conversion", "conversion", pct, 1]], "No item with 3 or more views, clicks or carts in this window."))}
  ${panel("Stock-outs with demand (lost = interest × the department's conversion)", table(r.stock_outs.top, [["title", "product"], ["interest", "interest", null, 1], ["lost_purchases", "purchases lost", fmt, 1], ["lost_revenue", "revenue lost", money, 1]], "No out-of-stock item was looked at in this window."), "stock-outs")}
  ${panel("Slow movers: in stock, sold before, not in this window", table(r.slow_movers.top, [["title", "product"], ["price", "price", fmt, 1], ["sales_before", "sales before", null, 1], ["days_since_sale", "days since a sale", null, 1]]))}
  ${panel("Departments", table(r.departments, [["department", "department"], ["items", "items", null, 1], ["out_of_stock", "out of stock", null, 1], ["interest", "interest", null, 1], ["purchases", "purchases", null, 1], ["conversion", "conversion", pct, 1], ["revenue", "revenue", money, 1]]))}</div>`;
}

// Data operations ---------------------------------------------------------------------------
async function operations() {
  const [r, audit] = await Promise.all([adm("/v1/insights/operations"), adm("/v1/audit?since=7d&limit=1000")]);
  // Catalog changes: item ingests (files, uploads and POST /v1/items) and admin deletes, newest first.
  const weekAgo = r.now_ms - 7 * 86400000;
  const changes = [...r.ingest_runs.filter(x => x.kind === "items" && x.started_ms >= weekAgo).map(x => ({ts: x.started_ms, what: "items written", by: x.source, n: x.rows_written, detail: x.rows_rejected ? `${x.rows_rejected} rejected` : ""})),
    ...audit.entries.filter(e => e.action === "items.delete").map(e => ({ts: e.ts, what: "deleted", by: e.actor, n: null, detail: e.target || ""}))]
    .sort((a, b) => b.ts - a.ts).slice(0, 20);
  const minutes = r.events_per_minute.minute_ms;
  const series = Object.entries(r.events_per_minute.series).map(([name, counts]) => ({name, points: counts.map((n, i) => [minutes[i], n])}));
  const f = r.freshness;
  const alerts = r.alerts.length ? r.alerts.map(a => `<div class="alert ${esc(a.severity)}"><b>${esc(a.metric)}</b>: ${esc(a.message)}${a.band ? ` <span class="muted">(normal band ${esc(fmt(a.band[0]))}–${esc(fmt(a.band[1]))})</span>` : ""}</div>`).join("")
    : `<p class="ok">No alert: events flow, click-through and reject rates are within their normal bands.</p>`;
  return `${panel("Alerts", alerts, "alerts")}
  <div class="kpis">${kpi("events, last 60 min", r.events_per_minute.total.toLocaleString(), "kpi-events")}${kpi("last event", r.last_event_ms ? ago(r.now_ms - r.last_event_ms) + " ago" : "–")}${kpi("model in service", f.model_version ? ago(f.model_age_ms) + " old" : "none")}${kpi("event batches since training", fmt(f.events_versions_since_training))}${kpi("serving behind the store (event batches)", fmt(f.serving_events_behind))}${kpi("event to effect, p50 / p99 (this server)", lag(r.event_lag), "kpi-lag")}${kpi("bot-flagged shoppers", r.flagged_users.count.toLocaleString())}</div>
  ${panel("Events per minute by type (last hour, UTC)", Plot.lines(series, {xLabel: (ms) => new Date(ms).toISOString().slice(11, 16), yFormat: fmt}), "events-chart")}
  <div class="cols">${panel("Ingest runs", table(r.ingest_runs, [["started_ms", "when", when], ["kind", "kind"], ["source", "source"], ["rows_read", "read", null, 1], ["rows_written", "written", null, 1], ["rows_duplicate", "duplicates", null, 1], ["rows_rejected", "rejected", null, 1], ["reject_rate", "reject rate", pct, 1]], "No ingest yet."))}
  ${panel("Catalog changes (last 7 days)", table(changes, [["ts", "when", when], ["what", "change"], ["n", "items", null, 1], ["by", "source or key"], ["detail", "detail"]], "No catalog change in 7 days."), "catalog-changes")}
  ${panel("Ingest rejects by reason", table(r.rejects_by_reason, [["field", "field"], ["reason", "reason"], ["rows", "rows", null, 1]], "No rejected rows."))}
  ${panel("Bot-flagged shoppers (their events are left out of training and reports)", table(r.flagged_users.recent, [["user_id", "shopper"], ["reason", "reason"], ["peak_per_minute", "peak / min", null, 1], ["flagged_ms", "flagged", when]], "No shopper flagged."))}
  ${panel("Freshness", table([f], [["model_version", "model"], ["trained_ms", "trained", when], ["store_events_version", "store events v", null, 1], ["serving_events_version", "serving events v", null, 1], ["store_catalog_version", "store catalog v", null, 1], ["serving_catalog_version", "serving catalog v", null, 1]]))}</div>`;
}

const lag = (l) => !l || !l.writes ? "no write yet" : `≤ ${fmt(l.p50_s)} s / ≤ ${fmt(l.p99_s)} s`;
// Models --------------------------------------------------------------------------------------
function reliability(clicks) {
  if (!clicks) return `<p class="empty">The model in service has no click model (it needs 2,000 item events when trained).</p>`;
  const curve = (scores) => (scores.reliability || []).map(b => [b.mean_predicted, b.observed_rate]);
  const model = curve(clicks.model_scores), base = curve(clicks.baseline_scores);
  if (!model.length) return `<p class="empty">The click model was judged on no held-out rows.</p>`;
  const top = Math.max(...model.flat(), ...base.flat(), 0.01);
  const s = (v) => v == null || Number.isNaN(v) ? "–" : v.toFixed(3);
  return Plot.lines([{name: `${clicks.model} (ECE ${s(clicks.model_scores.ece)}, AUC ${s(clicks.model_scores.auc)})`, points: model},
    {name: `${clicks.baseline} (ECE ${s(clicks.baseline_scores.ece)}, AUC ${s(clicks.baseline_scores.auc)})`, points: base},
    {name: "perfectly calibrated", points: [[0, 0], [top, top]]}], {xLabel: pct, yFormat: pct})
    + `<p class="muted">Held-out rows: ${esc(clicks.test_rows)} (${esc(clicks.test_positives)} clicks), learnt from ${esc(clicks.source)}. x: mean predicted click probability per bin (bins of equal rows); y: observed click rate.</p>`;
}
async function models() {
  const [r, ops] = await Promise.all([adm("/v1/models"), adm("/v1/insights/operations")]);
  const rows = r.versions.map(v => ({...v, action: v.live ? `<span class="badge live">live</span>` : `<button class="ghost" data-promote="${esc(v.version)}">Promote</button>`}));
  return `${panel("Model versions (newest first)", `<div class="row"><button id="rollback" class="ghost">Roll back to the previous version</button><span id="model-msg" class="muted"></span></div>`
    + table(rows, [["version", "version"], ["action", "", "html"], ["trained_ms", "trained", when], ["recommender", "recommender"], ["events", "events", null, 1], ["promoted_ms", "last live", when], ["gate", "retraining gate", (g) => g ? (g.passed === false ? "held back: " : "") + JSON.stringify(g).slice(0, 120) : "–"]]), "model-versions")}
  ${panel("Click model reliability (live version)", reliability(ops.click_model), "reliability")}
  ${panel("Promotions and rollbacks", table(r.history.slice().reverse(), [["ts_ms", "when", when], ["action", "action"], ["version", "version"], ["reason", "reason"]], "No promotion yet."))}
  ${await runsPanel()}`;
}
// The team's record (/v1/runs): training and evaluation runs, two side by side, notes.
const HEADLINE = /(^|\.)(NDCG@10|HR@10|validation_ndcg10|auc)$/;
async function runsPanel() {
  const {runs} = await adm("/v1/runs?limit=50");
  const headline = (run) => Object.entries(run.metrics).filter(([k]) => HEADLINE.test(k)).slice(0, 3).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(" · ");
  const lastNote = (run) => run.notes.length ? `${run.notes[run.notes.length - 1].author}: ${run.notes[run.notes.length - 1].text}` : "";
  return panel("Runs: training and evaluation (the team's record)", `<p class="muted">Tick two runs to see them side by side; open one to read and leave notes. <code>cartwise evaluate recs</code> and every training add a run.</p>`
    + table(runs, [[(x) => `<input type="checkbox" data-pick="${esc(x.run_id)}" aria-label="compare ${esc(x.run_id)}">`, "", "html"],
      [(x) => x.run_id + (x.live ? " (live)" : ""), "run"], ["kind", "kind"], ["created_ms", "when", when], ["title", "what"],
      [headline, "headline metrics"], [lastNote, "latest note"],
      [(x) => `<button class="ghost" data-run="${esc(x.run_id)}">Open</button>`, "", "html"]], "No run yet: train or evaluate to record one.")
    + `<div class="row"><button id="compare-runs" disabled>Compare the two ticked</button><span id="runs-msg" role="status" class="muted"></span></div><div id="run-detail"></div>`, "runs");
}
const shown = (v) => v == null ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : typeof v === "object" ? JSON.stringify(v) : String(v);
const notesHtml = (run) => `<ul class="notes">${run.notes.map(n => `<li><b>${esc(n.author)}</b> <span class="muted">${esc(when(n.ts_ms))}</span> ${esc(n.text)}</li>`).join("") || `<li class="muted">No note yet.</li>`}</ul>`;
async function runDetail(id) {
  const run = await adm(`/v1/runs/${encodeURIComponent(id)}`);
  const rows = (o) => Object.entries(o).map(([name, v]) => ({name, v}));
  $("run-detail").innerHTML = panel(`${run.run_id}: ${run.title}`, `<div class="cols">
    <div><h4>configuration</h4>${table(rows(run.config), [["name", "field"], ["v", "value", shown]], "none recorded")}<h4>data</h4>${table(rows(run.data), [["name", "field"], ["v", "value", shown]])}</div>
    <div><h4>metrics</h4>${table(rows(run.metrics), [["name", "metric"], ["v", "value", shown, 1]], "none recorded")}</div></div>
    <h4>notes</h4>${notesHtml(run)}<label>add a note <textarea id="note-text" rows="3" aria-label="note"></textarea></label>
    <div class="row"><button id="note-add">Add note</button><span id="note-msg" role="status"></span></div>`, "run-panel");
  $("note-add").onclick = async () => {
    try { await adm(`/v1/runs/${encodeURIComponent(id)}/notes`, {method: "POST", body: {text: $("note-text").value}}); await runDetail(id); }
    catch (err) { $("note-msg").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
}
async function compareRuns(a, b) {
  const c = await adm(`/v1/runs/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const diff = (rows, label) => table(rows, [["name", label], ["a", "a", shown], ["b", "b", shown], [(r) => r.delta == null ? (r.a === r.b || JSON.stringify(r.a) === JSON.stringify(r.b) ? "same" : "differs") : (r.delta > 0 ? "+" : "") + shown(r.delta), "b − a", null, 1]], "nothing recorded");
  const shared = c.metrics.filter(r => r.a != null && r.b != null && HEADLINE.test(r.name)).slice(0, 8);
  const chart = shared.length ? Plot.bars(shared.map(r => ({label: r.name.split(".").slice(-2).join("."), values: [r.a, r.b]})), ["a", "b"], {title: "headline metrics both runs have"}) : "";
  $("run-detail").innerHTML = panel("Two runs side by side", `<p class="muted">a: ${esc(a)} · ${esc(c.a.title)}<br>b: ${esc(b)} · ${esc(c.b.title)}</p>${chart}<div class="cols"><div><h4>configuration (differences first)</h4>${diff(c.config, "field")}<h4>data</h4>${diff(c.data, "field")}</div>
    <div><h4>metrics</h4>${diff(c.metrics, "metric")}</div></div><div class="cols"><div><h4>notes on a</h4>${notesHtml(c.a)}</div><div><h4>notes on b</h4>${notesHtml(c.b)}</div></div>`, "run-compare");
}
function wireRuns() {
  const picked = () => [...document.querySelectorAll("[data-pick]:checked")].map(x => x.dataset.pick);
  for (const box of document.querySelectorAll("[data-pick]")) box.onchange = () => {
    const n = picked().length;
    $("compare-runs").disabled = n !== 2;
    $("runs-msg").textContent = n > 2 ? "tick exactly two" : "";
  };
  $("compare-runs").onclick = () => { const [a, b] = picked(); compareRuns(b, a).catch(e => { $("runs-msg").textContent = e.message; }); };
  for (const b of document.querySelectorAll("[data-run]")) b.onclick = () => runDetail(b.dataset.run).catch(e => { $("runs-msg").textContent = e.message; });
}
function wireModels() {
  wireRuns();
  for (const b of document.querySelectorAll("[data-promote]")) b.onclick = async () => {
    const reason = prompt(`Promote ${b.dataset.promote}: why?`, "promoted from the dashboard");
    if (reason === null) return;
    try { await adm(`/v1/models/${encodeURIComponent(b.dataset.promote)}/promote`, {method: "POST", body: {reason}}); show(); }
    catch (e) { $("model-msg").textContent = e.message; }
  };
  $("rollback").onclick = async () => {
    const reason = prompt("Roll back: why?", "rolled back from the dashboard");
    if (reason === null) return;
    try { const live = await adm("/v1/models/rollback", {method: "POST", body: {reason}}); $("model-msg").textContent = `now live: ${live.version}`; show(); }
    catch (e) { $("model-msg").textContent = e.message; }
  };
}

// Rules and synonyms ------------------------------------------------------------------------
const EXAMPLE_RULE = {id: "boost-example", kind: "boost", query: "tea", items: ["teapot"], weight: 2};
async function rules() {
  const [doc, versions] = await Promise.all([adm("/v1/rules"), adm("/v1/rules/versions")]);
  const entries = [...doc.rules.map(r => ({...r, what: r.kind})), ...doc.synonyms.map(s => ({...s, what: "synonym"}))];
  const summary = (r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !["id", "what"].includes(k)))).slice(0, 140);
  return `<div class="cols">${panel(`Rules and synonyms (version ${doc.version})`, table(entries, [["id", "id"], ["what", "kind"], [summary, "definition"], [(r) => `<button class="ghost" data-edit="${esc(r.id)}">Edit</button>`, "", "html"]], "No rule or synonym yet."), "rule-list")}
  ${panel("Edit a rule or synonym", `<p class="muted">JSON, as in a rule file. Preview runs it on one answer through <code>/v1/rules/dry-run</code>; nothing changes until you save (a new version, live within a second).</p>
    <textarea id="rule-text" aria-label="rule JSON" spellcheck="false">${esc(JSON.stringify(EXAMPLE_RULE, null, 2))}</textarea>
    <div class="row"><label>preview on search <input id="preview-query" size="16" value="tea"></label><label>or shopper <input id="preview-user" size="10"></label><label>or similar to item <input id="preview-item" size="10"></label></div>
    <div class="row"><button id="preview" class="ghost">Preview</button><button id="save">Save</button><button id="delete" class="danger">Delete</button><span id="rule-msg" role="status"></span></div>
    <div id="preview-out"></div>`, "rule-editor")}</div>
  ${panel("Versions", table(versions.slice().reverse(), [["version", "version", null, 1], ["created_ms", "saved", when], ["source", "source"], ["note", "note"], ["rules", "rules", null, 1], ["synonyms", "synonyms", null, 1], [(v) => v.version === doc.version ? `<span class="badge live">live</span>` : `<button class="ghost" data-restore="${v.version}">Restore</button>`, "", "html"]], "No version saved yet."))}`;
}
function ruleBody() {
  try { return JSON.parse($("rule-text").value); }
  catch (e) { throw new Error(`the rule is not valid JSON: ${e.message}`); }
}
function showError(e) { $("rule-msg").innerHTML = `<span class="error">${esc(e.message)}${e.field ? ` (field: ${esc(e.field)})` : ""}${e.hint ? ` · ${esc(e.hint)}` : ""}</span>`; }
function wireRules() {
  for (const b of document.querySelectorAll("[data-edit]")) b.onclick = async () => {
    const rule = await adm(`/v1/rules/${encodeURIComponent(b.dataset.edit)}`);
    $("rule-text").value = JSON.stringify(rule, null, 2);
    $("rule-msg").textContent = "";
    $("rule-text").scrollIntoView({block: "center"});
  };
  for (const b of document.querySelectorAll("[data-restore]")) b.onclick = async () => { await adm(`/v1/rules/versions/${b.dataset.restore}/restore`, {method: "POST", body: {}}); show(); };
  $("preview").onclick = async () => {
    try {
      const body = {rule: ruleBody(), k: 10};
      for (const [field, input] of [["query", "preview-query"], ["user_id", "preview-user"], ["item_id", "preview-item"]]) if ($(input).value.trim()) body[field] = $(input).value.trim();
      const r = await adm("/v1/rules/dry-run", {method: "POST", body});
      const list = (items, mark) => `<ol>${items.map(i => `<li class="${mark.has(i.item_id) ? (mark === added ? "added" : "removed") : ""}">${esc(i.title)} <span class="muted">${esc(i.item_id)}</span></li>`).join("")}</ol>`;
      const added = new Set(r.added), removed = new Set(r.removed);
      $("preview-out").innerHTML = `<p class="muted">${esc(r.answer)} · ${r.added.length} added, ${r.removed.length} removed, ${Object.keys(r.moved).length} moved${r.redirect_after ? ` · redirects to ${esc(r.redirect_after)}` : ""}</p><div class="diff"><div><h4>Before</h4>${list(r.before, removed)}</div><div><h4>After</h4>${list(r.after, added)}</div></div>`;
      $("rule-msg").innerHTML = `<span class="ok">valid</span>`;
    } catch (e) { showError(e); }
  };
  $("save").onclick = async () => {
    try {
      const rule = ruleBody();
      if (!rule.id) throw new Error("the rule needs an id");
      const doc = await adm(`/v1/rules/${encodeURIComponent(rule.id)}`, {method: "PUT", body: rule});
      await show();
      $("rule-msg").innerHTML = `<span class="ok">saved as version ${esc(doc.version)}</span>`;
    } catch (e) { showError(e); }
  };
  $("delete").onclick = async () => {
    try {
      const rule = ruleBody();
      if (!confirm(`Delete ${rule.id}?`)) return;
      await adm(`/v1/rules/${encodeURIComponent(rule.id)}`, {method: "DELETE"});
      await show();
    } catch (e) { showError(e); }
  };
}

// Experiments (cartwise/experiments): the list, a new one, and for each its arms with
// intervals, the sample-ratio check, the verdict in words, and stop or ship.
const interval = (i, f = pct) => i ? `${f(i.value)} (${f(i.low)}–${f(i.high)})` : "–";
const EXAMPLE_VARIANTS = [{name: "control"}, {name: "plain ranking", config: {kind: "ranking", answers: {search: {rank: "identity"}}}}];
async function experiments() {
  const {experiments: list} = await adm("/v1/experiments");
  const rows = list.slice().reverse();
  const badge = (status) => `<span class="badge ${status === "running" ? "live" : ""}">${esc(status)}</span>`;
  return `<div class="cols">${panel("Experiments", table(rows, [
    ["name", "name"], [(e) => badge(e.status), "status", "html"], [(e) => e.placements.join(", "), "placements"],
    ["mode", "mode"], [(e) => e.variants.map(v => v.name).join(" / "), "variants"], ["metric", "metric"],
    ["started_ms", "started", when],
    [(e) => `<button class="ghost" data-experiment="${esc(e.experiment_id)}">Open</button>`, "", "html"]],
    "No experiment yet: start one on the right."))}
  ${panel("New experiment", `<div class="row"><label>name <input id="exp-name" size="18" value="plain vs fused ranking"></label>
    <label>placement <input id="exp-placement" size="10" value="search"></label>
    <label>mode <select id="exp-mode"><option>ab</option><option>interleave</option></select></label>
    <label>metric <select id="exp-metric"><option>conversion</option><option>ctr</option><option>add_to_cart</option><option>revenue_per_user</option></select></label>
    <label>fixed horizon (users, empty: sequential) <input id="exp-horizon" size="7"></label></div>
    <label>variants (JSON: the control first; config.kind control, rules, ranking or model)<textarea id="exp-variants" rows="6" spellcheck="false">${esc(JSON.stringify(EXAMPLE_VARIANTS, null, 2))}</textarea></label>
    <div class="row"><button id="exp-create">Start</button><span id="exp-msg" role="status"></span></div>`, "experiment-form")}</div>
  <div id="experiment-detail"></div>`;
}
async function experimentDetail(id) {
  const {experiment: e, results: r} = await adm(`/v1/experiments/${encodeURIComponent(id)}`);
  const running = e.status === "running";
  const arms = table(r.arms, [["variant", "variant"], ["description", "what it serves"], ["users", "users", null, 1],
    ["exposures", "answers shown", null, 1], ["clicks", "clicks", null, 1], [(a) => interval(a.ctr), "click-through", null, 1],
    [(a) => interval(a.add_to_cart), "add-to-cart", null, 1], [(a) => interval(a.conversion), "conversion", null, 1],
    [(a) => interval(a.revenue_per_user, money), "revenue per user", null, 1]], "No one has seen this experiment yet.");
  const comparisons = table(r.comparisons, [["variant", "vs control"], ["metric", "metric"],
    [(c) => `${pct(c.control)} → ${pct(c.treatment)}`, "control → treatment"],
    [(c) => c.low == null ? "–" : `${pct(c.difference)} (${pct(c.low)}–${pct(c.high)})`, "difference (interval)", null, 1],
    [(c) => c.p_value.toFixed(3), "p", null, 1], [(c) => c.significant ? "yes" : "no", "significant"], ["method", "test"]],
    "Too few users to compare yet.");
  const srm = r.srm ? `<p class="${r.srm.mismatch ? "error" : "muted"}">Sample ratio: ${Object.entries(r.srm.users).map(([v, n]) => `${esc(v)} ${n}`).join(", ")} users (expected ${Object.entries(r.srm.expected_share).map(([v, s]) => `${esc(v)} ${pct(s)}`).join(", ")}); p = ${r.srm.p_value.toFixed(3)}${r.srm.mismatch ? " — a mismatch: do not trust these numbers" : ""}.</p>` : "";
  const inter = r.interleaving ? `<p class="muted">Interleaving: ${Object.entries(r.interleaving.wins).map(([v, n]) => `${esc(v)} preferred by ${n}`).join(", ")}, ${r.interleaving.ties} ties; always-valid p = ${r.interleaving.sequential_p_value.toFixed(3)}.</p>` : "";
  const actions = running ? `<div class="row"><button id="exp-stop" class="danger">Stop</button><button id="exp-ship">Ship${r.decision === "ship" ? " the winner" : "…"}</button><span id="exp-act-msg" role="status"></span></div>` : `<p class="muted">${esc(e.status)}${e.shipped ? `: ${esc(e.shipped)} shipped` : ""}${e.note ? ` (${esc(e.note)})` : ""}</p>`;
  $("experiment-detail").innerHTML = panel(`${e.name} (${e.experiment_id})`, `<p class="verdict ${esc(r.decision)}" id="exp-verdict"><b>${esc(r.verdict)}</b></p>
    <p class="muted">${esc(r.test === "sequential" ? "Always-valid sequential test: safe to read at any time." : `Fixed horizon of ${r.horizon_users} users: the verdict waits for it.`)} ${r.users} users so far; metric ${esc(e.metric)}.</p>
    ${arms}${comparisons}${srm}${inter}${actions}`, "experiment-panel");
  if (!running) return;
  const act = async (path, body) => {
    try { await adm(`/v1/experiments/${encodeURIComponent(id)}/${path}`, {method: "POST", body}); await show(); await experimentDetail(id); }
    catch (err) { $("exp-act-msg").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
  $("exp-stop").onclick = () => { if (confirm(`Stop ${e.name}? Everyone then gets the store as it is.`)) act("stop", {reason: "stopped from the dashboard"}); };
  $("exp-ship").onclick = () => {
    const variant = r.decision === "ship" ? null : prompt(`Ship which variant? (${e.variants.map(v => v.name).join(", ")})`);
    if (r.decision !== "ship" && !variant) return;
    act("ship", {variant, reason: "shipped from the dashboard"});
  };
}
function wireExperiments() {
  for (const b of document.querySelectorAll("[data-experiment]")) b.onclick = () => experimentDetail(b.dataset.experiment);
  $("exp-create").onclick = async () => {
    try {
      let variants;
      try { variants = JSON.parse($("exp-variants").value); } catch (err) { throw new Error(`the variants are not valid JSON: ${err.message}`); }
      const body = {name: $("exp-name").value.trim(), placements: [$("exp-placement").value.trim()], variants,
                    mode: $("exp-mode").value, metric: $("exp-metric").value};
      if ($("exp-horizon").value.trim()) body.horizon_users = Number($("exp-horizon").value);
      const created = await adm("/v1/experiments", {method: "POST", body});
      await show();
      await experimentDetail(created.experiment_id);
    } catch (err) { $("exp-msg").innerHTML = `<span class="error">${esc(err.message)}${err.field ? ` (field: ${esc(err.field)})` : ""}</span>`; }
  };
}

// Assistant (/v1/assist/report, in the chosen window): what shoppers asked, what went to a
// person (the FAQ's to-do list), and the answers rated not helpful.
async function assistant() {
  const r = await adm(`/v1/assist/report?since_ms=${Math.max(0, Date.now() - days() * 86400000)}`);
  const routes = Object.entries(r.by_route).map(([route, n]) => ({route, n}));
  return `<div class="kpis">${kpi("questions", r.questions.toLocaleString(), "kpi-questions")}${kpi("answered", r.answered.toLocaleString())}${kpi("handed to a person", r.handed_off.toLocaleString())}${kpi("rated helpful", r.feedback ? `${pct(r.helpful_rate)} of ${r.feedback}` : "no rating yet")}</div>
  <div class="cols">${panel("Unanswered questions, most asked first (the FAQ's to-do list)", table(r.unanswered, [["message", "question"], ["route", "route"], ["times", "asked", null, 1], [(u) => u.item_ids.join(", "), "about"], ["last_ms", "last", when]], "Every question got an answer."), "unanswered")}
  ${panel("Answers rated not helpful", table(r.unhelpful, [["message", "question"], ["reply", "answer"], ["comment", "comment"], ["ts", "when", when]], "No answer was rated not helpful."), "unhelpful")}
  ${panel("Questions by route", table(routes, [["route", "route"], ["n", "questions", null, 1]], "No question yet."))}</div>
  <p class="muted">Window: ${+days() >= 3650 ? "the whole log" : `the last ${esc(days())} days`}.</p>`;
}

// Navigation ------------------------------------------------------------------------------
const SECTIONS = {business: [business], inventory: [inventory], operations: [operations], models: [models, wireModels], rules: [rules, wireRules], experiments: [experiments, wireExperiments], assistant: [assistant]};
let refresh;
async function show() {
  const name = SECTIONS[location.hash.slice(1)] ? location.hash.slice(1) : "business";
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("on", a.getAttribute("href") === `#${name}`);
  $("window-box").hidden = !["business", "inventory", "assistant"].includes(name);
  document.body.dataset.section = name;
  const started = performance.now();
  try {
    const [render, wire] = SECTIONS[name];
    const html = await render();
    $("view").innerHTML = html + `<p class="muted">loaded in ${(performance.now() - started).toFixed(0)} ms</p>`;
    if (wire) wire();
  } catch (e) {
    if (e.status !== 401 && e.status !== 403) $("view").innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
  document.body.dataset.ready = name;
  clearTimeout(refresh);
  if (name === "operations") refresh = setTimeout(() => { if (document.body.dataset.section === "operations") show(); }, 10000);
}
function askForKey(message) {
  adminKey = "";
  sessionStorage.removeItem("cartwise-admin-key");
  $("key-form").hidden = false;
  for (const id of ["tabs", "sign-out", "window-box"]) $(id).hidden = true;
  $("view").innerHTML = "";
  $("key-error").textContent = message || "";
  document.body.dataset.ready = "key";
}
async function open() {
  $("key-form").hidden = true;
  $("tabs").hidden = false;
  $("sign-out").hidden = false;
  await show();
}
$("key-form").onsubmit = async (e) => {
  e.preventDefault();
  adminKey = $("admin-key").value.trim();
  try {
    await adm("/v1/models");
    sessionStorage.setItem("cartwise-admin-key", adminKey);
    $("admin-key").value = "";
    await open();
  } catch (err) { if (err.status !== 401 && err.status !== 403) $("key-error").textContent = err.message; }
};
$("sign-out").onclick = () => askForKey("");
$("days").onchange = show;
window.addEventListener("hashchange", show);
if (adminKey) open(); else askForKey("");
