// The figures page (station/web/app.py): fetches /api/figures (station plant report's
// document) and draws each chart as SVG, built with DOM calls only (no innerHTML, no inline style: the page's CSP).
"use strict";
(function () {
  const root = document.getElementById("figures");
  if (!root) {
    return;
  }
  const SVG = "http://www.w3.org/2000/svg";
  const W = 640;
  const H = 260;
  const M = { left: 48, right: 12, top: 16, bottom: 78 };
  const STATES = ["Execute", "Held", "Aborted", "Suspended", "Stopped", "Idle"];

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) {
      node.setAttribute(key, String(value));
    }
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  function html(name, attrs, text) {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attrs || {})) {
      node.setAttribute(key, String(value));
    }
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  // A bar chart: bars = [{label, value, title, parts: [{value, cls}]?}]; a target line.
  function bars(id, title, items, options) {
    const figure = html("figure", { class: "chart", id: id });
    figure.append(html("figcaption", {}, title));
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;
    const top = Math.max(options.max || 0, options.target || 0, ...items.map((b) => b.value), 1e-9);
    svg.append(el("line", { class: "axis", x1: M.left, y1: M.top + plotH, x2: W - M.right, y2: M.top + plotH }));
    svg.append(el("line", { class: "axis", x1: M.left, y1: M.top, x2: M.left, y2: M.top + plotH }));
    svg.append(el("text", { x: M.left - 6, y: M.top + 10, "text-anchor": "end" }, options.format(top)));
    svg.append(el("text", { x: M.left - 6, y: M.top + plotH, "text-anchor": "end" }, "0"));
    if (!items.length) {
      svg.append(el("text", { class: "empty-note", x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data in this range"));
    }
    const slot = plotW / Math.max(items.length, 1);
    items.forEach((item, i) => {
      const x = M.left + i * slot + slot * 0.15;
      const width = slot * 0.7;
      let base = M.top + plotH;
      const parts = item.parts || [{ value: item.value, cls: "bar" }];
      for (const part of parts) {
        const h = (part.value / top) * plotH;
        const rect = el("rect", { class: `bar ${part.cls}`, x: x, y: base - h, width: width, height: h, "data-value": part.value });
        rect.append(el("title", {}, `${item.label}: ${part.label || ""} ${options.format(part.value)}`));
        svg.append(rect);
        base -= h;
      }
      const lx = x + width / 2;
      const ly = M.top + plotH + 16;
      const label = items.length > 4
        ? el("text", { x: lx, y: ly, "text-anchor": "end", transform: `rotate(-30 ${lx} ${ly})` }, item.label)
        : el("text", { x: lx, y: ly, "text-anchor": "middle" }, item.label);
      svg.append(label);
      if (!item.parts) {
        svg.append(el("text", { x: x + width / 2, y: base - 4, "text-anchor": "middle" }, options.format(item.value)));
      }
    });
    if (options.target) {
      const y = M.top + plotH - (options.target / top) * plotH;
      svg.append(el("line", { class: "target", x1: M.left, y1: y, x2: W - M.right, y2: y }));
      svg.append(el("text", { x: W - M.right, y: y - 4, "text-anchor": "end" }, `target ${options.format(options.target)}`));
    }
    figure.append(svg);
    figure.dataset.bars = String(svg.querySelectorAll("rect").length);
    return figure;
  }

  function histogram(values) {
    if (!values.length) {
      return [];
    }
    const top = Math.max(...values);
    const count = Math.min(10, Math.max(1, values.length));
    const width = top / count || 1;
    const bins = Array.from({ length: count }, (_, i) => ({ from: i * width, value: 0 }));
    for (const v of values) {
      bins[Math.min(count - 1, Math.floor(v / width))].value += 1;
    }
    return bins.map((b) => ({ label: duration(b.from), value: b.value }));
  }

  function duration(seconds) {
    if (seconds < 120) {
      return `${Math.round(seconds)} s`;
    }
    if (seconds < 7200) {
      return `${Math.round(seconds / 60)} min`;
    }
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function legend() {
    const box = html("div", { class: "legend" });
    for (const state of STATES) {
      const item = html("span", {});
      item.append(html("span", { class: `swatch s-${state}` }), document.createTextNode(state));
      box.append(item);
    }
    return box;
  }

  function line(doc) {
    const section = html("section", { class: "line-figures", "data-line": doc.line });
    const lead = doc.lead_time_s;
    section.append(html("h2", {}, `Line ${doc.line}: ${doc.released} released of ${doc.entered} entered, ${doc.held} held, WIP ${doc.wip}; lead time p50 ${duration(lead.p50)}, p90 ${duration(lead.p90)}`));
    const charts = html("div", { class: "charts" });
    const count = (v) => String(Math.round(v * 100) / 100);
    charts.append(
      bars(`throughput-${doc.line}`, `Released per hour (UTC) against target (${doc.target_per_day} a day)`,
        doc.released_per_hour.map((h) => ({ label: h.hour.slice(11, 16), value: h.released })),
        { format: count, target: doc.target_per_day / 24 }),
    );
    charts.append(
      bars(`lead-${doc.line}`, "Lead time distribution (vehicles)", histogram(doc.lead_times_s), { format: count }),
    );
    const gates = doc.gates.filter((g) => g.first_pass_yield !== null);
    charts.append(
      bars(`fpy-${doc.line}`, "First-pass yield per gate",
        gates.map((g) => ({ label: g.operation, value: g.first_pass_yield })),
        { format: (v) => `${Math.round(v * 100)} %`, max: 1 }),
    );
    const states = bars(`states-${doc.line}`, "PackML state time per station",
      doc.stations.map((s) => ({
        label: s.station,
        value: STATES.reduce((sum, k) => sum + (s.state_time_s[k] || 0), 0),
        parts: STATES.map((k) => ({ value: s.state_time_s[k] || 0, cls: `s-${k}`, label: k })),
      })),
      { format: duration });
    states.append(legend());
    charts.append(states);
    section.append(charts);
    return section;
  }

  fetch(root.dataset.api, { headers: { accept: "application/json" } })
    .then((response) => {
      if (!response.ok) {
        throw new Error(`figures: HTTP ${response.status}`);
      }
      return response.json();
    })
    .then((doc) => {
      const sections = doc.lines.map(line);
      const source = html("p", { class: "note" }, `${doc.since} to ${doc.until} (UTC): the numbers of station plant report --json`);
      root.replaceChildren(...sections, source);
      if (!sections.length) {
        root.prepend(html("p", { class: "empty" }, "No line has stored events yet."));
      }
      root.dataset.drawn = "true";
    })
    .catch((error) => {
      root.replaceChildren(html("p", { class: "error" }, String(error.message || error)));
      root.dataset.drawn = "error";
    });
})();
