// tracespool view: the span details panel of the trace page. Everything
// else is plain HTML. Data comes from /api/ on the same origin.
"use strict";
(function () {
  const wf = document.getElementById("waterfall");
  const panel = document.getElementById("details");
  if (!wf || !panel) { document.body.dataset.ready = "1"; return; }
  const trace = wf.dataset.traceId;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function table(title, obj) {
    const box = el("div");
    box.appendChild(el("h3", title));
    const t = el("table");
    const keys = Object.keys(obj || {});
    if (keys.length === 0) box.appendChild(el("p", "none", "muted"));
    for (const k of keys) {
      const tr = el("tr");
      tr.appendChild(el("td", k));
      const v = obj[k];
      tr.appendChild(el("td", typeof v === "string" ? v : JSON.stringify(v)));
      t.appendChild(tr);
    }
    box.appendChild(t);
    return box;
  }
  function show(v) {
    panel.replaceChildren();
    panel.appendChild(el("h2", v.name));
    const state = v.state_detail || v.state;
    panel.appendChild(table("Span", {
      span_id: v.span_id, parent_span_id: v.parent_span_id || "(root)", kind: v.kind,
      status: v.status ? v.status.code + (v.status.message ? ": " + v.status.message : "") : "",
      start_time: v.start_time, end_time: v.end_time, duration_ns: v.duration_ns,
      state: state, row: v.row, record_version: v.record_version,
      trace_flags: v.trace_flags, trace_state: v.trace_state || "",
      corrupt: v.corrupt || "",
    }));
    panel.appendChild(table("Attributes", v.attributes));
    const ev = el("div");
    ev.appendChild(el("h3", "Events"));
    for (const e of v.events || []) ev.appendChild(table(e.time, e));
    if (!(v.events || []).length) ev.appendChild(el("p", "none", "muted"));
    panel.appendChild(ev);
    const ln = el("div");
    ln.appendChild(el("h3", "Links"));
    const inSpool = new Set(v.linked_traces_in_spool || []);
    for (const l of v.links || []) {
      const p = el("p");
      if (inSpool.has(l.trace_id)) {
        const a = el("a", l.trace_id + " / " + l.span_id);
        a.href = "/trace/" + l.trace_id + "#span-" + l.span_id;
        p.appendChild(a);
      } else {
        p.textContent = l.trace_id + " / " + l.span_id + " (not in this spool)";
      }
      ln.appendChild(p);
      ln.appendChild(table("link attributes", l.attributes));
    }
    if (!(v.links || []).length) ln.appendChild(el("p", "none", "muted"));
    panel.appendChild(ln);
    panel.appendChild(table("Resource", v.resource));
    panel.appendChild(table("Scope", v.scope));
    panel.dataset.loadedSpanId = v.span_id;
  }
  function select(row) {
    for (const s of wf.querySelectorAll(".span.selected")) s.classList.remove("selected");
    row.classList.add("selected");
    panel.hidden = false;
    const id = row.dataset.spanId;
    fetch("/api/trace/" + trace + "/span/" + id, { credentials: "same-origin" })
      .then(r => r.ok ? r.json() : Promise.reject(r.status))
      .then(show)
      .catch(e => { panel.replaceChildren(el("p", "Could not load the span: " + e, "error")); });
  }
  wf.addEventListener("click", e => {
    const row = e.target.closest(".span");
    if (row) select(row);
  });
  wf.addEventListener("keydown", e => {
    const row = e.target.closest(".span");
    if (row && e.key === "Enter") select(row);
  });
  const m = location.hash.match(/^#span-([0-9a-f]{16})$/);
  if (m) {
    const row = wf.querySelector('.span[data-span-id="' + m[1] + '"]');
    if (row) { row.scrollIntoView({ block: "center" }); select(row); }
  }
  document.body.dataset.ready = "1";
})();
