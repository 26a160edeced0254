// Cartwise plots: a few hand-written SVG charts (lines with bands, bars, funnels,
// sparklines), bundled with the package so the dashboard works offline. No dependencies.
"use strict";
const Plot = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#3b6df0", "#e0663a", "#2f9e6e", "#9b59d0", "#c9a227", "#d04f7f", "#4aa3c7", "#7a8597"];
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c]));
  const fmt = (v) => v == null || Number.isNaN(v) ? "–" : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString()
    : Math.abs(v) >= 10 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(3);
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function frame(width, height, body, label) {
    return `<svg xmlns="${NS}" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${esc(label || "chart")}" class="plot">${body}</svg>`;
  }
  function legend(names) {
    return `<div class="legend">${names.map((n, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(n)}</span>`).join("")}</div>`;
  }
  // series: [{name, points: [[x, y], ...], band?: [[x, low, high], ...]}]; x numbers (e.g. ms).
  function lines(series, {height = 220, xLabel = (x) => fmt(x), yFormat = fmt, yMax = null, title = ""} = {}) {
    const width = 640, left = 48, right = 12, top = 12, bottom = 28;
    const xs = series.flatMap(s => s.points.map(p => p[0]));
    if (!xs.length) return `<p class="empty">No data in this window yet.</p>`;
    const ys = series.flatMap(s => [...s.points.map(p => p[1]), ...(s.band || []).map(b => b[2])]).filter(v => v != null);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), ymax = yMax ?? niceMax(Math.max(...ys, 0));
    const sx = (x) => left + (x1 === x0 ? (width - left - right) / 2 : (x - x0) / (x1 - x0) * (width - left - right));
    const sy = (y) => top + (1 - y / ymax) * (height - top - bottom);
    let body = "";
    for (let i = 0; i <= 4; i++) {
      const y = ymax * i / 4;
      body += `<line x1="${left}" x2="${width - right}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/><text x="${left - 6}" y="${sy(y) + 4}" class="tick" text-anchor="end">${esc(yFormat(y))}</text>`;
    }
    const ticks = [...new Set(xs)].sort((a, b) => a - b);
    const step = Math.max(1, Math.ceil(ticks.length / 6));
    ticks.forEach((x, i) => { if (i % step === 0) body += `<text x="${sx(x)}" y="${height - 8}" class="tick" text-anchor="middle">${esc(xLabel(x))}</text>`; });
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      if (s.band && s.band.length) {
        const upper = s.band.map(b => `${sx(b[0])},${sy(b[2])}`), lower = s.band.slice().reverse().map(b => `${sx(b[0])},${sy(b[1])}`);
        body += `<polygon points="${[...upper, ...lower].join(" ")}" fill="${color}" opacity="0.15"/>`;
      }
      const pts = s.points.filter(p => p[1] != null);
      if (pts.length > 1) body += `<polyline points="${pts.map(p => `${sx(p[0])},${sy(p[1])}`).join(" ")}" fill="none" stroke="${color}" stroke-width="2"/>`;
      for (const p of pts) body += `<circle cx="${sx(p[0])}" cy="${sy(p[1])}" r="2.5" fill="${color}"><title>${esc(s.name)}: ${esc(yFormat(p[1]))} (${esc(xLabel(p[0]))})</title></circle>`;
    });
    return (title ? `<h4>${esc(title)}</h4>` : "") + frame(width, height, body, title) + legend(series.map(s => s.name));
  }
  // rows: [{label, values: [..]}], names: one per value (grouped bars).
  function bars(rows, names, {height = 220, yFormat = fmt, title = ""} = {}) {
    if (!rows.length) return `<p class="empty">No data in this window yet.</p>`;
    const width = 640, left = 48, right = 12, top = 12, bottom = 34;
    const ymax = niceMax(Math.max(...rows.flatMap(r => r.values.map(v => v || 0)), 0));
    const slot = (width - left - right) / rows.length, bar = Math.max(2, slot * 0.8 / names.length);
    const sy = (y) => top + (1 - y / ymax) * (height - top - bottom);
    let body = "";
    for (let i = 0; i <= 4; i++) {
      const y = ymax * i / 4;
      body += `<line x1="${left}" x2="${width - right}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/><text x="${left - 6}" y="${sy(y) + 4}" class="tick" text-anchor="end">${esc(yFormat(y))}</text>`;
    }
    rows.forEach((r, i) => {
      const x = left + i * slot + slot * 0.1;
      r.values.forEach((v, j) => {
        body += `<rect x="${x + j * bar}" y="${sy(v || 0)}" width="${bar - 1}" height="${sy(0) - sy(v || 0)}" fill="${COLORS[j % COLORS.length]}"><title>${esc(r.label)} · ${esc(names[j])}: ${esc(yFormat(v || 0))}</title></rect>`;
      });
      body += `<text x="${left + i * slot + slot / 2}" y="${height - 18}" class="tick" text-anchor="middle">${esc(String(r.label).slice(0, 12))}</text>`;
    });
    return (title ? `<h4>${esc(title)}</h4>` : "") + frame(width, height, body, title) + legend(names);
  }
  // steps: [{label, value}]: each bar's width is its share of the first; the drop shows between.
  function funnel(steps, {title = ""} = {}) {
    if (!steps.length || !steps[0].value) return `<p class="empty">Nothing shown in this window yet.</p>`;
    const width = 640, row = 34, height = steps.length * row + 8, first = steps[0].value;
    let body = "";
    steps.forEach((s, i) => {
      const w = Math.max(2, (width - 260) * s.value / first), y = 4 + i * row;
      const share = i && steps[i - 1].value ? ` · ${(100 * s.value / steps[i - 1].value).toFixed(1)}% of ${esc(steps[i - 1].label)}` : "";
      body += `<rect x="120" y="${y}" width="${w}" height="${row - 8}" rx="4" fill="${COLORS[i % COLORS.length]}"/>`
        + `<text x="112" y="${y + row / 2}" class="label" text-anchor="end">${esc(s.label)}</text>`
        + `<text x="${128 + w}" y="${y + row / 2}" class="label">${esc(s.value.toLocaleString())}${share}</text>`;
    });
    return (title ? `<h4>${esc(title)}</h4>` : "") + frame(width, height, body, title);
  }
  // A small line of counts with an optional band [low, high] for the next value.
  function sparkline(values, {band = null, width = 160, height = 36} = {}) {
    if (!values.length) return "";
    const max = niceMax(Math.max(...values, band ? band[1] : 0, 1)), n = values.length + (band ? 1 : 0);
    const sx = (i) => 2 + i * (width - 4) / Math.max(1, n - 1), sy = (v) => height - 2 - v / max * (height - 4);
    let body = `<polyline points="${values.map((v, i) => `${sx(i)},${sy(v)}`).join(" ")}" fill="none" stroke="${COLORS[0]}" stroke-width="1.5"/>`;
    if (band) body += `<line x1="${sx(n - 1)}" x2="${sx(n - 1)}" y1="${sy(band[0])}" y2="${sy(band[1])}" stroke="${COLORS[1]}" stroke-width="4" opacity="0.5"><title>next: ${esc(fmt(band[0]))}–${esc(fmt(band[1]))}</title></line>`;
    return `<svg xmlns="${NS}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" class="spark">${body}</svg>`;
  }
  return {lines, bars, funnel, sparkline, fmt, esc, COLORS};
})();
