// tmux-audit web UI: one page, routed on the URL hash (docs/WEB.md), plain DOM.
//
// Rules this file keeps, because the data is hostile (session names, command lines, output):
// - all DOM is built with createElement/textContent (see `h`), never innerHTML with data;
// - no inline style attributes or scripts (CSP): data-dependent geometry is set through
//   element.style.left/width (CSSOM, allowed);
// - every filter lives in the hash so a link reproduces the view.
//
// Benchmark hooks (web/test/bench.mjs):
// - the sessions page sets `document.body.dataset.sessions = "drawn"` once its rows are in the DOM
//   (and "loading" while a request is out);
// - the player sets `document.body.dataset.frame = "loading"` when it starts loading a piece and
//   `"drawn"` after the player's terminal has drawn the piece's first frame (its text is non-empty);
//   `window.tmuxAuditPlayer.load(seconds)` loads the piece from there, as any seek does.
"use strict";

(() => {
  // ---------- DOM helpers ----------

  /** Builds an element: `h("a", {href, class, title, onclick}, child, ...)`; strings become text. */
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k === "dataset") Object.assign(e.dataset, v);
        else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
        else if (k === "checked" || k === "disabled" || k === "selected" || k === "hidden") e[k] = Boolean(v);
        else if (k === "value") e.value = v;
        else e.setAttribute(k, String(v));
      }
    }
    append(e, children);
    return e;
  }

  function append(e, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
    return e;
  }

  // ---------- formatting ----------

  /** `2026-12-04T10:00:00.123456Z` → `2026-12-04 10:00:00` (UTC, as stored). */
  function fmtTime(t) {
    if (!t) return "";
    const s = String(t);
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(s);
    return m ? `${m[1]} ${m[2]}` : s;
  }

  function parseTime(t) {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms;
  }

  /** Seconds → `1 h 02 min`, `3 min 05 s`, `12 s`. */
  function fmtDuration(secs) {
    if (secs === undefined || secs === null || Number.isNaN(Number(secs))) return "";
    let s = Math.round(Number(secs));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const hr = Math.floor(s / 3600); s -= hr * 3600;
    const mi = Math.floor(s / 60); s -= mi * 60;
    const p2 = (n) => String(n).padStart(2, "0");
    if (d) return `${d} d ${hr} h`;
    if (hr) return `${hr} h ${p2(mi)} min`;
    if (mi) return `${mi} min ${p2(s)} s`;
    return `${s} s`;
  }

  /** Seconds → `h:mm:ss.s` clock for the player. */
  function fmtClock(secs) {
    const neg = secs < 0;
    let s = Math.abs(secs);
    const hr = Math.floor(s / 3600); s -= hr * 3600;
    const mi = Math.floor(s / 60); s -= mi * 60;
    const p2 = (n) => String(n).padStart(2, "0");
    const sec = Math.floor(s);
    return `${neg ? "-" : ""}${hr}:${p2(mi)}:${p2(sec)}`;
  }

  /** A value of unknown shape (string, bytes-as-array, object) as display text. */
  function asText(v) {
    if (v === undefined || v === null) return "";
    if (typeof v === "string") return v;
    if (Array.isArray(v)) return v.map(asText).join(" ");
    if (typeof v === "object") {
      if (typeof v.text === "string") return v.text;
      return JSON.stringify(v);
    }
    return String(v);
  }

  // ---------- API ----------

  let me = null;

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === undefined || v === null || v === "") continue;
      q.set(k, String(v));
    }
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  function toLogin() {
    location.href = "/login";
  }

  /** GET (or POST with a JSON body) an /api path; 401 → the login page; errors → ApiError. */
  async function api(path, params, opts = {}) {
    const init = { credentials: "same-origin", headers: {}, signal: opts.signal };
    if (opts.method === "POST") {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      if (me && me.csrf) init.headers["X-CSRF-Token"] = me.csrf;
      init.body = JSON.stringify(opts.body || {});
    }
    const res = await fetch(`/api/${path}${query(params)}`, init);
    if (res.status === 401) {
      toLogin();
      throw new ApiError(401, "not logged in");
    }
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try {
        const body = await res.json();
        if (body && body.error) message = body.error;
      } catch (_) { /* not JSON */ }
      if (res.status === 429) {
        const after = res.headers.get("Retry-After");
        if (after) message += ` (retry after ${after} s)`;
      }
      throw new ApiError(res.status, message);
    }
    if (opts.text) return res.text();
    return res.json();
  }

  // ---------- router ----------

  /** The hash as `{route, params}`: `#/player?pane=%253` → {route: "player", params: {pane: "%3"}}. */
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const i = raw.indexOf("?");
    const route = (i < 0 ? raw : raw.slice(0, i)) || "sessions";
    const params = {};
    if (i >= 0) for (const [k, v] of new URLSearchParams(raw.slice(i + 1))) params[k] = v;
    return { route, params };
  }

  function hashOf(route, params) {
    return `#/${route}${query(params)}`;
  }

  function go(route, params) {
    // The page's readiness flags describe the view being left until hashchange renders the
    // next one (an event that comes later): clear them now, so nothing reads a stale "drawn".
    delete document.body.dataset.sessions;
    delete document.body.dataset.frame;
    const next = hashOf(route, params);
    if (location.hash === next) render();
    else location.hash = next;
  }

  /** Rewrites the hash without re-rendering (the view already shows it). */
  function replaceHash(route, params) {
    history.replaceState(null, "", hashOf(route, params));
  }

  // The current view's cleanup (timers, loops, the player) and a generation counter so that a
  // late answer for a view the user already left is dropped.
  let cleanup = [];
  let generation = 0;

  function onLeave(fn) {
    cleanup.push(fn);
  }

  const routes = {};

  async function render() {
    for (const fn of cleanup.splice(0)) {
      try { fn(); } catch (e) { console.error(e); }
    }
    const gen = ++generation;
    const { route, params } = parseHash();
    for (const a of document.querySelectorAll("#nav a")) {
      const r = a.dataset.route;
      a.classList.toggle("active", r === route || (r === "sessions" && route === "session")
        || (r === "now" && route === "live"));
    }
    const app = clear(document.getElementById("app"));
    const view = routes[route];
    if (!view) {
      app.append(h("p", { class: "error" }, `no such page: ${route}`));
      return;
    }
    const live = () => gen === generation;
    try {
      await view(app, params, live);
    } catch (e) {
      if (!live() || (e instanceof ApiError && e.status === 401) || e.name === "AbortError") return;
      app.append(h("p", { class: "error" }, e.message));
    }
  }

  // ---------- shared bits ----------

  function badge(kind, text, title) {
    return h("span", { class: `badge ${kind}`, title }, text);
  }

  function countBadges(row) {
    const out = [];
    if (row.violations) out.push(badge("bad", `${row.violations} violation${row.violations === 1 ? "" : "s"}`));
    if (row.alerts) out.push(badge("warn", `${row.alerts} alert${row.alerts === 1 ? "" : "s"}`));
    if (row.gaps) out.push(badge("neutral", `${row.gaps} gap${row.gaps === 1 ? "" : "s"}`));
    return out;
  }

  function table(columns, rows, rowFn, opts = {}) {
    const thead = h("thead", null, h("tr", null, columns.map((c) => {
      if (typeof c === "string") return h("th", null, c);
      return c;
    })));
    const tbody = h("tbody");
    for (const r of rows) tbody.append(rowFn(r));
    const t = h("table", { class: `data ${opts.class || ""}` }, thead, tbody);
    const wrap = h("div", { class: "table-wrap" }, t);
    if (!rows.length) wrap.append(h("div", { class: "empty" }, opts.empty || "nothing"));
    return wrap;
  }

  function hostParam(p) {
    return p.host ? { host: p.host } : {};
  }

  function playerLink(host, server, pane, t, text) {
    return h("a", { href: hashOf("player", { host, server, pane, t }) }, text);
  }

  function whoOf(row) {
    if (row.actor) return row.actor;
    if (row.attribution === "exact" && row.user) return row.user;
    if (Array.isArray(row.candidates) && row.candidates.length) {
      return row.candidates.length === 1 ? row.candidates[0] : row.candidates.join(" or ");
    }
    return row.user || "?";
  }

  function attributionBadge(row) {
    const a = row.attribution;
    if (!a) return "";
    const kind = a === "exact" ? "ok" : a === "inferred" ? "warn" : "neutral";
    const title = Array.isArray(row.candidates) && row.candidates.length
      ? `candidates: ${row.candidates.join(", ")}` : undefined;
    return badge(kind, a, title);
  }

  function textOfAct(row) {
    if (row.text !== undefined) return asText(row.text);
    if (row.argv) return asText(row.argv);
    if (row.message) return asText(row.message);
    return "";
  }

  /** A filter form: fields [{name, label, type?}], submit → onSubmit(values). */
  function filterForm(fields, values, onSubmit, submitLabel = "Apply") {
    const form = h("form", { class: "filters panel" });
    for (const f of fields) {
      if (f.type === "checkbox") {
        form.append(h("label", { class: "check" },
          h("input", { type: "checkbox", name: f.name, checked: values[f.name] === "1" }), f.label));
      } else if (f.type === "select") {
        const sel = h("select", { name: f.name },
          f.options.map(([v, t]) => h("option", { value: v, selected: (values[f.name] || "") === v }, t)));
        form.append(h("label", null, f.label, sel));
      } else {
        form.append(h("label", null, f.label, h("input", {
          type: "text", name: f.name, value: values[f.name] || "", placeholder: f.placeholder || "",
          size: f.size || 14,
        })));
      }
    }
    form.append(h("button", { type: "submit" }, submitLabel));
    form.append(h("button", {
      type: "button", class: "secondary",
      onclick: () => {
        for (const el of form.elements) {
          if (el.type === "checkbox") el.checked = false;
          else if (el.name) el.value = "";
        }
      },
    }, "Clear"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const out = {};
      for (const f of fields) {
        const el = form.elements[f.name];
        if (f.type === "checkbox") out[f.name] = el.checked ? "1" : "";
        else out[f.name] = el.value.trim();
      }
      onSubmit(out);
    });
    return form;
  }

  // ---------- Sessions ----------

  const PAGE = 50;

  routes.sessions = async (app, p, live) => {
    document.body.dataset.sessions = "loading";
    app.append(h("h1", null, "Sessions"));
    const fields = [];
    if (me && me.central) {
      fields.push({
        name: "host", label: "Host", type: "select",
        options: [["", "all hosts"], ...(me.hosts || []).map((x) => [x, x])],
      });
    }
    fields.push(
      { name: "session", label: "Session" },
      { name: "user", label: "User" },
      { name: "since", label: "Since", placeholder: "2026-12-01T00:00:00Z or 3h" },
      { name: "until", label: "Until", placeholder: "RFC 3339 or 1h" },
      { name: "q", label: "Free text", size: 20 },
    );
    app.append(filterForm(fields, p, (v) => {
      go("sessions", { ...v, sort: p.sort, order: p.order });
    }));

    const page = Math.max(1, parseInt(p.page || "1", 10) || 1);
    const sort = p.sort || "created";
    const order = p.order || "desc";
    const result = h("div", { id: "sessions-result" }, h("p", { class: "muted" }, "loading…"));
    app.append(result);

    const data = await api("sessions", {
      host: p.host, session: p.session, user: p.user, since: p.since, until: p.until, q: p.q,
      sort, order, offset: (page - 1) * PAGE, limit: PAGE,
    });
    if (!live()) return;
    clear(result);

    const central = Boolean(me && me.central) || data.rows.some((r) => r.host);
    const sortable = (key, label) => {
      const cls = ["sortable"];
      if (sort === key) cls.push(order === "asc" ? "sorted-asc" : "sorted-desc");
      return h("th", {
        class: cls.join(" "), title: `sort by ${label.toLowerCase()}`, dataset: { sort: key },
        onclick: () => {
          const nextOrder = sort === key ? (order === "asc" ? "desc" : "asc") : (key === "session" || key === "host" ? "asc" : "desc");
          go("sessions", { ...p, sort: key, order: nextOrder, page: "" });
        },
      }, label);
    };
    const cols = [];
    if (central) cols.push(sortable("host", "Host"));
    cols.push("Server", sortable("session", "Session"), sortable("created", "Created"),
      sortable("closed", "Closed"), "Participants", sortable("attached", "Attached"), "Findings");

    const pages = Math.max(1, Math.ceil(data.total / PAGE));
    const first = data.total ? data.offset + 1 : 0;
    const last = data.offset + data.rows.length;
    const pager = () => h("div", { class: "pager" },
      h("button", {
        type: "button", class: "secondary", disabled: page <= 1,
        onclick: () => go("sessions", { ...p, page: String(page - 1) }),
      }, "‹ Prev"),
      h("span", { class: "pager-status" }, `${first}–${last} of ${data.total}`,
        h("span", { class: "muted" }, ` · page ${page} of ${pages}`)),
      h("button", {
        type: "button", class: "secondary", disabled: page >= pages,
        onclick: () => go("sessions", { ...p, page: String(page + 1) }),
      }, "Next ›"));

    result.append(pager());
    result.append(table(cols, data.rows, (r) => {
      const target = { host: r.host, server: r.server, id: r.session_id };
      const tr = h("tr", { class: "clickable", dataset: { session: r.session } });
      tr.addEventListener("click", (ev) => {
        if (ev.target.closest("a")) return;
        go("session", target);
      });
      if (central) tr.append(h("td", { class: "nowrap" }, r.host || ""));
      const formers = Array.isArray(r.former_names) && r.former_names.length
        ? h("span", { class: "former" }, `formerly ${r.former_names.join(", ")}`) : null;
      tr.append(
        h("td", { class: "mono small" }, r.server),
        h("td", { class: "session-name" }, h("a", { href: hashOf("session", target) }, r.session), formers),
        h("td", { class: "nowrap", title: r.created_observed_at_start ? "first seen when the daemon started (created earlier)" : undefined },
          fmtTime(r.created), r.created_observed_at_start ? " *" : ""),
        h("td", { class: "nowrap" }, r.closed ? fmtTime(r.closed) : badge("info", "open")),
        h("td", null, (r.participants || []).join(", ")),
        h("td", {
          class: "nowrap",
          title: Object.entries(r.attached_seconds || {}).map(([u, s]) => `${u}: ${fmtDuration(s)}`).join("\n") || undefined,
        }, fmtDuration(r.attached_total || 0), r.attaches ? h("span", { class: "muted small" }, ` (${r.attaches}×)`) : ""),
        h("td", null, countBadges(r)),
      );
      return tr;
    }, { class: "sessions", empty: "no session matches" }));
    if (data.rows.length > 20) result.append(pager());
    document.body.dataset.sessions = "drawn";
  };

  // ---------- Session ----------

  /** One lane per client: bars positioned in % of the session's life. */
  function timeline(session, lanes, marks) {
    const now = Date.now();
    let lo = parseTime(session.created);
    let end = session.closed ? parseTime(session.closed) : now;
    for (const l of lanes) {
      for (const s of l.spans) {
        const from = parseTime(s.from);
        const to = s.to ? parseTime(s.to) : now;
        if (from !== null && (lo === null || from < lo)) lo = from;
        if (to !== null && (end === null || to > end)) end = to;
      }
    }
    if (lo === null) lo = end === null ? now : end;
    if (end === null) end = now;
    const span = Math.max(1, end - lo);
    const pct = (t) => `${(Math.min(Math.max(t - lo, 0), span) / span) * 100}%`;

    const box = h("div", { class: "timeline" });
    const axisTrack = h("div", { class: "tl-track" });
    for (let i = 0; i <= 4; i++) {
      const t = lo + (span * i) / 4;
      const tick = h("span", { class: `tl-tick${i === 0 ? " first" : i === 4 ? " last" : ""}` },
        fmtTime(new Date(t).toISOString()));
      tick.style.left = `${i * 25}%`;
      axisTrack.append(tick);
    }
    box.append(h("div", { class: "tl-axis" }, h("div", null, ""), axisTrack));

    for (const l of lanes) {
      const track = h("div", { class: "tl-track" });
      for (const s of l.spans) {
        const from = parseTime(s.from);
        const to = s.to ? parseTime(s.to) : end;
        const rights = s.readonly ? "read-only" : "writable";
        const bar = h("div", {
          class: `tl-span${s.readonly ? " readonly" : ""}${s.to ? "" : " open"}`,
          title: `${l.user || "?"} on ${l.client}\n${fmtTime(s.from)} – ${s.to ? fmtTime(s.to) : "still attached"}` +
            ` (${fmtDuration((to - from) / 1000)})\n${rights}, from ${s.origin || "?"}`,
          dataset: { readonly: String(Boolean(s.readonly)), origin: s.origin || "" },
        });
        bar.style.left = pct(from);
        bar.style.width = `${(Math.max(0, Math.min(to, end) - Math.max(from, lo)) / span) * 100}%`;
        track.append(bar);
      }
      for (const m of marks) {
        const t = parseTime(m.time);
        if (t === null) continue;
        const tick = h("div", { class: `tl-event ${m.kind}`, title: m.title });
        tick.style.left = pct(t);
        track.append(tick);
      }
      box.append(h("div", { class: "tl-lane", dataset: { user: l.user || "", client: l.client || "" } },
        h("div", { class: "tl-label" },
          h("span", { class: "user" }, l.user || "?"),
          h("span", { class: "meta" }, `${l.client || "?"}${l.uid !== undefined && l.uid !== null ? ` · uid ${l.uid}` : ""}`)),
        track));
    }
    if (!lanes.length) box.append(h("p", { class: "muted" }, "nobody attached to this session"));
    box.append(h("div", { class: "legend" },
      h("span", null, h("span", { class: "swatch rw" }), "attached, writable"),
      h("span", null, h("span", { class: "swatch readonly" }), "attached, read-only"),
      h("span", null, h("span", { class: "swatch open" }), "still attached"),
      h("span", null, h("span", { class: "swatch violation" }), "policy violation"),
      h("span", null, h("span", { class: "swatch alert" }), "alert"),
      h("span", null, "hover a bar for its times, rights and origin")));
    return box;
  }

  function logTable(rows, host, empty) {
    return table(["Time", "User", "Kind", "Message", "Pane"], rows, (r) => h("tr", null,
      h("td", { class: "nowrap" }, fmtTime(r.time)),
      h("td", null, r.user || r.by_user || r.actor || ""),
      h("td", null, badge(r.kind === "policy-violation" ? "bad" : "warn", r.kind || "")),
      h("td", { class: "text" }, asText(r.message !== undefined ? r.message : r.text)),
      h("td", { class: "mono small" }, r.pane_id
        ? playerLink(host, r.server, r.pane_id, r.time, r.pane_id) : "")), { empty });
  }

  routes.session = async (app, p, live) => {
    const data = await api("session", { host: p.host, server: p.server, id: p.id });
    if (!live()) return;
    const s = data.session;
    const host = p.host || s.host;
    app.append(h("p", { class: "muted small" }, h("a", { href: "#/sessions" }, "‹ Sessions")));
    app.append(h("h1", null, "Session ", h("span", { class: "session-title" }, s.session), " ", countBadges(s)));
    const kv = h("dl", { class: "kv" });
    const add = (k, v) => { if (v !== undefined && v !== null && v !== "") kv.append(h("dt", null, k), h("dd", null, v)); };
    add("Host", s.host);
    add("Server", h("span", { class: "mono" }, s.server));
    add("Session id", h("span", { class: "mono" }, s.session_id));
    if (Array.isArray(s.former_names) && s.former_names.length) add("Former names", s.former_names.join(", "));
    add("Created", `${fmtTime(s.created)}${s.created_observed_at_start ? " (first seen when the daemon started)" : ""}`);
    add("Closed", s.closed ? fmtTime(s.closed) : "still open");
    add("Participants", (s.participants || []).join(", ") || "none");
    add("Attached", `${fmtDuration(s.attached_total || 0)} in total` +
      (Object.keys(s.attached_seconds || {}).length
        ? ` — ${Object.entries(s.attached_seconds).map(([u, x]) => `${u} ${fmtDuration(x)}`).join(", ")}` : ""));
    app.append(h("div", { class: "panel" }, kv));

    const marks = [
      ...(data.violations || []).map((v) => ({ time: v.time, kind: "violation", title: `violation: ${asText(v.message)}` })),
      ...(data.alerts || []).map((v) => ({ time: v.time, kind: "alert", title: `alert: ${asText(v.message || v.text)}` })),
    ];
    app.append(h("h2", null, "Who was attached"));
    app.append(h("div", { class: "panel" }, timeline(s, data.lanes || [], marks)));

    app.append(h("h2", null, "Panes"));
    const panes = data.panes || [];
    app.append(h("div", { class: "panel" }, panes.length
      ? h("ul", { class: "pane-list" }, panes.map((pn) => h("li", null,
        h("a", {
          href: hashOf("player", { host, server: s.server, pane: pn.pane_id, t: pn.first }),
          title: `${fmtTime(pn.first)} – ${fmtTime(pn.last)}`,
        }, `window ${pn.window_index}${pn.window_name ? ` (${pn.window_name})` : ""} · pane ${pn.pane_index} · ${pn.pane_id}`))))
      : h("p", { class: "muted" }, "no pane recorded")));

    app.append(h("h2", null, `Commands (${(data.commands || []).length})`));
    app.append(table(["Time", "User", "Attribution", "Kind", "Text", "Pane"], data.commands || [], (c) => h("tr", null,
      h("td", { class: "nowrap" }, fmtTime(c.time)),
      h("td", null, whoOf(c)),
      h("td", null, attributionBadge(c)),
      h("td", { class: "nowrap" }, c.kind || ""),
      h("td", { class: "text" }, textOfAct(c)),
      h("td", { class: "mono small nowrap" }, c.pane_id
        ? playerLink(host, c.server || s.server, c.pane_id, c.time, c.place || c.pane_id) : (c.place || ""))),
    { empty: "no command recorded" }));

    app.append(h("h2", null, `Policy violations (${(data.violations || []).length})`));
    app.append(logTable(data.violations || [], host, "no policy violation"));
    app.append(h("h2", null, `Alerts (${(data.alerts || []).length})`));
    app.append(logTable(data.alerts || [], host, "no alert"));
    app.append(h("h2", null, `Gaps in recording (${(data.gaps || []).length})`));
    app.append(table(["From", "To", "Reason", "Pane"], data.gaps || [], (g) => h("tr", null,
      h("td", { class: "nowrap" }, fmtTime(g.from)),
      h("td", { class: "nowrap" }, g.to ? fmtTime(g.to) : "open"),
      h("td", null, asText(g.reason)),
      h("td", { class: "mono small" }, g.pane_id || "")), { empty: "no gap: recording was continuous" }));
  };

  // ---------- Player ----------

  const SPEEDS = ["0.5", "1", "1.5", "2", "4", "8"];
  const IDLE = [["", "off"], ["0.5", "0.5 s"], ["1", "1 s"], ["2", "2 s"], ["5", "5 s"], ["10", "10 s"]];

  /** The piece's time map: original offsets (from the piece's start) of its events, and the
   *  player's times for them after the idle limit, so the UI speaks in recording time. */
  function timeMap(events, limit) {
    const orig = [0];
    const play = [0];
    let prev = 0;
    let acc = 0;
    for (const [t] of events) {
      let d = t - prev;
      if (limit && d > limit) d = limit;
      acc += Math.max(0, d);
      prev = t;
      orig.push(t);
      play.push(acc);
    }
    const interp = (xs, ys, x) => {
      let lo = 0;
      let hi = xs.length - 1;
      if (x <= xs[0]) return ys[0] + (x - xs[0]);
      if (x >= xs[hi]) return ys[hi] + (x - xs[hi]);
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (xs[mid] <= x) lo = mid; else hi = mid;
      }
      const dx = xs[hi] - xs[lo];
      if (dx <= 0) return ys[lo];
      const f = (x - xs[lo]) / dx;
      // within a compressed gap the player's time moves slower: scale linearly
      return ys[lo] + f * (ys[hi] - ys[lo]);
    };
    return {
      toPlayer: (o) => interp(orig, play, o),
      toOrig: (q) => interp(play, orig, q),
      end: orig[orig.length - 1],
    };
  }

  function parseCast(text) {
    const lines = text.split("\n");
    let header = {};
    try { header = JSON.parse(lines[0]); } catch (_) { /* the player reports it */ }
    const events = [];
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i];
      if (!l || l[0] !== "[") continue;
      const comma = l.indexOf(",");
      const t = parseFloat(l.slice(1, comma));
      if (!Number.isNaN(t)) events.push([t]);
    }
    return { header, events };
  }

  /** `t` in the URL: RFC 3339 time or seconds from the pane's start → seconds from the start. */
  function offsetOf(t, pane) {
    if (t === undefined || t === null || t === "") return null;
    if (/^-?\d+(\.\d+)?$/.test(String(t))) return parseFloat(t);
    const ms = parseTime(t);
    const start = parseTime(pane.start);
    if (ms === null || start === null) return null;
    return (ms - start) / 1000;
  }

  routes.player = async (app, p, live) => {
    // A time in `t` (a search hit's) names the recording holding it: a pane id is reused by
    // later server lives on the same socket.
    const tIsTime = p.t && !/^-?\d+(\.\d+)?$/.test(String(p.t));
    const pane = await api("pane", { host: p.host, server: p.server, pane: p.pane, at: tIsTime ? p.t : "" });
    if (!live()) return;
    const duration = Number(pane.duration) || 0;
    const startMs = parseTime(pane.start);
    const markers = (pane.markers || []).slice().sort((a, b) => a.offset - b.offset);
    const absTime = (off) => (startMs === null ? "" : fmtTime(new Date(startMs + off * 1000).toISOString()));

    const state = {
      speed: p.speed && SPEEDS.includes(p.speed) ? p.speed : "1",
      idle: p.idle || "",
      player: null,
      piece: null, // {from, to, map}
      loading: 0,
    };

    app.append(h("p", { class: "muted small" },
      p.server ? h("a", { href: "#/sessions" }, "‹ Sessions") : ""));
    app.append(h("h1", null, "Replay ", h("span", { class: "session-title" }, pane.session || ""),
      h("span", { class: "muted" }, ` · window ${pane.window_index} · pane ${pane.pane_index} · ${pane.pane_id}`)));
    app.append(h("p", { class: "muted" }, `${fmtTime(pane.start)} – ${fmtTime(pane.end)} (${fmtDuration(duration)}), ${pane.cols}×${pane.rows}, server `,
      h("span", { class: "mono" }, pane.server || p.server || "")));

    const playerBox = h("div", { class: "player-box", id: "player" });
    const clock = h("span", { class: "clock", id: "player-clock" }, "0:00:00");
    const status = h("span", { class: "muted small", id: "player-status" });
    const speedSel = h("select", { id: "player-speed" }, SPEEDS.map((s) => h("option", { value: s, selected: s === state.speed }, `${s}×`)));
    const idleSel = h("select", { id: "player-idle" }, IDLE.map(([v, t]) => h("option", { value: v, selected: v === state.idle }, t)));
    const gotoInput = h("input", { type: "text", id: "player-goto", placeholder: "h:mm:ss, seconds or RFC 3339", size: 24 });
    const gotoForm = h("form", { class: "inline" }, gotoInput, " ", h("button", { type: "submit", class: "secondary" }, "Go"));

    const fullbar = h("div", { class: "fullbar", id: "player-fullbar", title: "click to seek" });
    const pieceEl = h("div", { class: "piece" });
    const posEl = h("div", { class: "pos" });
    fullbar.append(pieceEl);
    const pctOf = (off) => `${duration > 0 ? (Math.min(Math.max(off, 0), duration) / duration) * 100 : 0}%`;
    for (const m of markers) {
      const mk = h("div", { class: `mk ${m.kind}`, title: `${fmtClock(m.offset)} ${m.kind} ${m.user || ""} ${asText(m.label)}` });
      mk.style.left = pctOf(m.offset);
      fullbar.append(mk);
    }
    fullbar.append(posEl);

    const list = h("ul", { class: "marker-list", id: "marker-list" });
    const items = markers.map((m, i) => {
      const li = h("li", { dataset: { offset: String(m.offset), kind: m.kind, index: String(i) } },
        h("button", {
          type: "button", title: fmtTime(m.time),
          onclick: () => load(Math.max(0, m.offset - 1), true),
        },
        h("span", { class: "mt" }, fmtClock(m.offset)),
        badge(m.kind === "command" ? "info" : m.kind === "tmux-command" ? "warn" : m.kind === "attach" ? "ok" : "neutral", m.kind),
        m.user ? h("span", { class: "small" }, m.user) : "",
        h("span", { class: "ml" }, asText(m.label))));
      list.append(li);
      return li;
    });

    const exportFrom = h("input", { type: "text", id: "export-from", placeholder: "from (RFC 3339, empty = start)", size: 22 });
    const exportTo = h("input", { type: "text", id: "export-to", placeholder: "to (empty = end)", size: 22 });
    const exportLinks = h("div", { class: "exports", id: "exports" });
    const drawExports = () => {
      clear(exportLinks);
      for (const [fmt, label] of [["asciicast", "asciicast v2"], ["asciicast-v3", "asciicast v3"], ["txt", "text"], ["raw", "raw bytes"]]) {
        const base = {
          host: p.host, server: pane.server || p.server, pane: pane.pane_id || p.pane, format: fmt,
          from: exportFrom.value.trim(), to: exportTo.value.trim(),
        };
        exportLinks.append(h("span", { class: "pair" },
          h("a", { href: `/api/export${query({ ...base, proof: 0 })}`, download: "", dataset: { format: fmt } }, label),
          h("a", { href: `/api/export${query({ ...base, proof: 1 })}`, download: "", title: "the proof document for exactly this export", dataset: { format: fmt, proof: "1" } }, "proof")));
      }
    };
    exportFrom.addEventListener("input", drawExports);
    exportTo.addEventListener("input", drawExports);
    drawExports();
    const pieceButton = h("button", {
      type: "button", class: "secondary", title: "fill in the loaded piece's times",
      onclick: () => {
        if (!state.piece || startMs === null) return;
        exportFrom.value = new Date(startMs + state.piece.from * 1000).toISOString();
        exportTo.value = new Date(startMs + state.piece.to * 1000).toISOString();
        drawExports();
      },
    }, "use the loaded piece");

    app.append(h("div", { class: "player-layout" },
      h("div", null,
        playerBox,
        fullbar,
        h("div", { class: "fullbar-ends" }, h("span", null, fmtTime(pane.start)), h("span", null, fmtTime(pane.end))),
        h("div", { class: "player-controls" },
          clock, status,
          h("label", null, "Speed", speedSel),
          h("label", null, "Idle limit", idleSel),
          h("label", null, "Go to", gotoForm),
          h("span", { class: "muted small" }, "keys: space play/pause, [ ] previous/next marker, ← → seek, . frame")),
        h("div", { class: "panel" },
          h("h3", null, "Export"),
          h("div", { class: "player-controls" }, exportFrom, exportTo, pieceButton),
          exportLinks,
          h("p", { class: "muted small" }, "Each format comes with its proof: “proof” downloads the document that ties exactly that export to the sealed chain; check the pair offline with ",
            h("span", { class: "mono" }, "tmux-audit verify --export FILE --proof PROOF"), "."))),
      h("div", { class: "panel markers" }, h("h2", null, `Markers (${markers.length})`), list,
        markers.length ? "" : h("p", { class: "empty" }, "no marker in this pane"))));

    // --- loading pieces ---

    function currentOffset() {
      if (!state.piece || !state.player) return null;
      const t = state.player.getCurrentTime();
      if (typeof t !== "number" || Number.isNaN(t)) return null;
      return state.piece.from + state.piece.map.toOrig(t);
    }

    function updateHashT(off) {
      const pr = { ...parseHash().params };
      pr.t = off === null ? "" : String(Math.round(off * 10) / 10);
      if (parseHash().route === "player") replaceHash("player", pr);
    }

    let frameWatch = null;

    /** Loads the piece starting at `from` seconds (the server's snapshot draws its first frame). */
    async function load(from, autoPlay) {
      from = Math.max(0, Math.min(from, Math.max(0, duration)));
      const my = ++state.loading;
      document.body.dataset.frame = "loading";
      status.textContent = "loading…";
      const text = await api("cast", {
        host: p.host, server: pane.server || p.server, pane: pane.pane_id || p.pane, at: pane.start, from: from.toFixed(3),
      }, { text: true });
      if (!live() || my !== state.loading) return;
      const { header, events } = parseCast(text);
      const limit = state.idle ? parseFloat(state.idle) : undefined;
      const map = timeMap(events, limit);
      const to = from + map.end;
      if (state.player) {
        state.player.dispose();
        state.player = null;
      }
      clear(playerBox);
      const pieceMarkers = markers
        .filter((m) => m.offset >= from && m.offset <= to + 0.001)
        .map((m) => [map.toPlayer(m.offset - from), `${m.kind}${m.user ? ` · ${m.user}` : ""}: ${asText(m.label)}`]);
      const opts = {
        autoPlay: Boolean(autoPlay),
        preload: true,
        speed: parseFloat(state.speed),
        markers: pieceMarkers,
        fit: "width",
        terminalFontSize: "small",
        poster: "npt:0:0.01",
      };
      if (limit) opts.idleTimeLimit = limit;
      else if (header && header.idle_time_limit) opts.idleTimeLimit = 1e9; // the URL says off
      state.player = AsciinemaPlayer.create({ data: text }, playerBox, opts);
      state.piece = { from, to, map };
      pieceEl.style.left = pctOf(from);
      pieceEl.style.width = `${duration > 0 ? ((Math.min(to, duration) - from) / duration) * 100 : 0}%`;
      status.textContent = `piece ${fmtClock(from)}–${fmtClock(to)}`;
      const player = state.player;
      player.addEventListener("ended", () => {
        // continue into the next piece when this one ends before the recording does
        if (state.player === player && to < duration - 0.5 && map.end > 0) load(to, true);
      });
      watchFirstFrame(player);
      tick();
    }

    function watchFirstFrame(player) {
      if (frameWatch) cancelAnimationFrame(frameWatch);
      // A piece may start on a blank screen: once the player has read the piece (its duration
      // is known) and its terminal is in the page, the first frame is drawn, text or not.
      let parsed = false;
      Promise.resolve(player.getDuration()).then((d) => { parsed = typeof d === "number"; }, () => {});
      const check = () => {
        if (!live() || state.player !== player) return;
        const term = playerBox.querySelector(".ap-term-text") || playerBox.querySelector(".ap-term");
        if (term && (parsed || term.textContent.trim() !== "")) {
          document.body.dataset.frame = "drawn";
          frameWatch = null;
          return;
        }
        frameWatch = requestAnimationFrame(check);
      };
      frameWatch = requestAnimationFrame(check);
    }

    let lastHashUpdate = 0;
    function tick() {
      const off = currentOffset();
      if (off === null) return;
      clock.textContent = `${fmtClock(off)} / ${fmtClock(duration)}  ${absTime(off)}`;
      clock.dataset.offset = String(off);
      posEl.style.left = pctOf(off);
      let cur = -1;
      for (let i = 0; i < markers.length; i++) if (markers[i].offset <= off + 0.05) cur = i;
      items.forEach((li, i) => li.classList.toggle("current", i === cur));
      const now = Date.now();
      if (now - lastHashUpdate > 2000) {
        lastHashUpdate = now;
        updateHashT(off);
      }
    }
    const timer = setInterval(tick, 250);
    onLeave(() => {
      clearInterval(timer);
      if (frameWatch) cancelAnimationFrame(frameWatch);
      if (state.player) state.player.dispose();
      state.player = null;
      delete document.body.dataset.frame;
    });

    /** Seeks to `off` seconds: within the loaded piece the player seeks, else a new piece loads. */
    function seekTo(off, autoPlay) {
      if (state.piece && state.player && off >= state.piece.from && off <= state.piece.to) {
        state.player.seek(state.piece.map.toPlayer(off - state.piece.from)).then(() => {
          if (autoPlay) state.player.play();
          tick();
        });
        return;
      }
      load(off, autoPlay);
    }

    fullbar.addEventListener("click", (ev) => {
      const r = fullbar.getBoundingClientRect();
      const off = ((ev.clientX - r.left) / r.width) * duration;
      load(off, false);
    });
    gotoForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = gotoInput.value.trim();
      let off = null;
      const clockM = /^(\d+):(\d\d)(?::(\d\d(?:\.\d+)?))?$/.exec(v);
      if (clockM) {
        off = clockM[3] !== undefined
          ? +clockM[1] * 3600 + +clockM[2] * 60 + parseFloat(clockM[3])
          : +clockM[1] * 60 + +clockM[2];
      } else off = offsetOf(v, pane);
      if (off === null || Number.isNaN(off)) {
        status.textContent = "cannot read that time";
        return;
      }
      seekTo(off, false);
    });
    const reload = () => {
      const off = currentOffset();
      load(off === null ? 0 : off, false);
    };
    speedSel.addEventListener("change", () => {
      state.speed = speedSel.value;
      replaceHash("player", { ...parseHash().params, speed: state.speed === "1" ? "" : state.speed });
      reload();
    });
    idleSel.addEventListener("change", () => {
      state.idle = idleSel.value;
      replaceHash("player", { ...parseHash().params, idle: state.idle });
      reload();
    });

    // The benchmark's hook (web/test/bench.mjs): load a piece from `off` seconds, as a seek does.
    window.tmuxAuditPlayer = { load: (off, autoPlay) => load(off, autoPlay), offset: currentOffset };
    onLeave(() => { delete window.tmuxAuditPlayer; });

    const t0 = offsetOf(p.t, pane);
    await load(t0 === null ? 0 : Math.max(0, t0), false);
  };

  // ---------- Search ----------

  /** The line with each match wrapped in <mark> (text nodes only). */
  function highlight(line, q, regex) {
    const out = [];
    if (!q) return [line];
    let re = null;
    try {
      re = regex ? new RegExp(q, "gi") : new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
    } catch (_) {
      return [line];
    }
    let last = 0;
    let m;
    let guard = 0;
    while ((m = re.exec(line)) !== null && guard++ < 200) {
      if (m[0] === "") { re.lastIndex++; continue; }
      out.push(line.slice(last, m.index), h("mark", null, m[0]));
      last = m.index + m[0].length;
    }
    out.push(line.slice(last));
    return out;
  }

  routes.search = async (app, p, live) => {
    app.append(h("h1", null, "Search"));
    app.append(filterForm([
      { name: "q", label: "Text or pattern", size: 28 },
      { name: "regex", label: "regular expression", type: "checkbox" },
      { name: "since", label: "Since", placeholder: "RFC 3339 or 3h" },
      { name: "until", label: "Until", placeholder: "RFC 3339 or 1h" },
    ], p, (v) => go("search", v), "Search"));
    if (!p.q) {
      app.append(h("p", { class: "muted" }, "Searches what panes printed and the command lines run, across every recording."));
      return;
    }
    const result = h("div", { id: "search-result" }, h("p", { class: "muted" }, "searching…"));
    app.append(result);
    const data = await api("search", { q: p.q, regex: p.regex === "1" ? 1 : 0, since: p.since, until: p.until, limit: 500 });
    if (!live()) return;
    clear(result);
    const rows = data.rows || [];
    result.append(h("p", { class: "muted" }, `${rows.length} hit${rows.length === 1 ? "" : "s"}`));
    result.append(table(["Time", "Hit", "Session", "Pane", "Attached", "Line"], rows, (r) => {
      const target = { host: r.host, server: r.server, pane: r.pane_id, t: r.time };
      const text = r.hit === "output" ? asText(r.line) : textOfAct(r);
      const attached = (r.attached || []).map((a) => (typeof a === "string" ? a
        : `${a.user || a.actor || "?"}${a.readonly ? " (ro)" : ""}`)).join(", ");
      const tr = h("tr", { class: r.pane_id ? "clickable hit" : "hit" });
      if (r.pane_id) {
        tr.addEventListener("click", (ev) => {
          if (ev.target.closest("a")) return;
          go("player", target);
        });
      }
      tr.append(
        h("td", { class: "nowrap" }, r.pane_id ? h("a", { href: hashOf("player", target), class: "hit-link" }, fmtTime(r.time)) : fmtTime(r.time)),
        h("td", null, badge(r.hit === "output" ? "info" : "neutral", r.hit || "")),
        h("td", null, r.session || ""),
        h("td", { class: "mono small" }, r.pane_id || ""),
        h("td", null, r.hit === "output" ? attached : whoOf(r)),
        h("td", { class: "text" }, highlight(text, p.q, p.regex === "1")));
      return tr;
    }, { empty: "no hit" }));
  };

  // ---------- Now ----------

  routes.now = async (app, p, live) => {
    app.append(h("h1", null, "Now ", h("span", { class: "muted small", id: "now-at" })));
    const result = h("div", { id: "now-result" }, h("p", { class: "muted" }, "loading…"));
    const panesBox = h("div", { id: "now-panes" });
    app.append(result, h("h2", null, "Live view of a pane"), panesBox);
    const paneCache = new Map(); // "host|server|session_id" → {at, panes}
    let stopped = false;
    let timer = null;
    const ctl = new AbortController();
    onLeave(() => { stopped = true; ctl.abort(); if (timer) clearTimeout(timer); });

    async function panesOf(host, server, id) {
      const key = `${host || ""}|${server}|${id}`;
      const c = paneCache.get(key);
      if (c && Date.now() - c.at < 15000) return c.panes;
      try {
        const d = await api("session", { host, server, id }, { signal: ctl.signal });
        paneCache.set(key, { at: Date.now(), panes: d.panes || [] });
        return d.panes || [];
      } catch (e) {
        if (e.name === "AbortError") throw e;
        return c ? c.panes : [];
      }
    }

    async function once() {
      const data = await api("now", hostParam(p), { signal: ctl.signal });
      if (stopped || !live()) return;
      const rows = data.rows || [];
      const central = rows.some((r) => r.host);
      document.getElementById("now-at").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
      clear(result);
      const cols = central ? ["Host"] : [];
      cols.push("Session", "User", "Client", "Since", "Rights", "Origin", "Server");
      result.append(table(cols, rows, (r) => h("tr", { class: "client-row", dataset: { user: r.user || "", session: r.session || "" } },
        central ? h("td", null, r.host || "") : null,
        h("td", null, h("a", { href: hashOf("session", { host: r.host, server: r.server, id: r.session_id }) }, r.session)),
        h("td", null, r.user || (r.uid !== undefined ? `uid ${r.uid}` : "?")),
        h("td", { class: "mono small" }, r.client || "", r.tty && r.tty !== r.client ? ` (${r.tty})` : "",
          r.flags && String(r.flags).split(",").includes("control-mode") ? " (control mode)" : ""),
        h("td", { class: "nowrap" }, fmtTime(r.since), h("span", { class: "muted small" }, ` (${fmtDuration((Date.now() - parseTime(r.since)) / 1000)})`)),
        h("td", null, r.readonly ? badge("ro", "read-only") : badge("info", "writable")),
        h("td", null, r.origin || "?"),
        h("td", { class: "mono small" }, r.server)), { empty: "no client attached" }));
      if (data.warnings && data.warnings.length) {
        result.append(h("p", { class: "notice" }, data.warnings.map(asText).join("; ")));
      }

      // the panes of each session someone is attached to, each opening its live view
      const seen = new Map();
      for (const r of rows) seen.set(`${r.host || ""}|${r.server}|${r.session_id}`, r);
      const blocks = [];
      for (const r of seen.values()) {
        const panes = await panesOf(r.host, r.server, r.session_id);
        if (stopped || !live()) return;
        blocks.push(h("div", { class: "panel" },
          h("h3", null, r.session, h("span", { class: "muted small" }, ` ${r.server}`)),
          h("ul", { class: "pane-list" }, panes.map((pn) => h("li", null,
            h("a", {
              class: "live-link",
              href: hashOf("live", { host: r.host, server: r.server, pane: pn.pane_id }),
              dataset: { server: r.server, pane: pn.pane_id },
            }, `window ${pn.window_index}${pn.window_name ? ` (${pn.window_name})` : ""} · pane ${pn.pane_index} · ${pn.pane_id}`))))));
      }
      clear(panesBox);
      if (blocks.length) append(panesBox, blocks);
      else panesBox.append(h("p", { class: "muted" }, "nobody is attached, so no pane is shown here"));
    }

    // one request at a time: the next starts 1 s after the previous one started (or at once if
    // it took longer)
    async function loop() {
      while (!stopped && live()) {
        const started = Date.now();
        try {
          await once();
        } catch (e) {
          if (stopped || e.name === "AbortError" || (e instanceof ApiError && e.status === 401)) return;
          clear(result).append(h("p", { class: "error" }, e.message));
        }
        const wait = Math.max(0, 1000 - (Date.now() - started));
        await new Promise((res) => { timer = setTimeout(res, wait); });
      }
    }
    loop();
  };

  // ---------- Live ----------

  routes.live = async (app, p, live) => {
    app.append(h("p", { class: "muted small" }, h("a", { href: "#/now" }, "‹ Now")));
    app.append(h("h1", null, "Live ", h("span", { class: "mono" }, p.pane || ""),
      h("span", { class: "muted small" }, ` ${p.server || ""}`)));
    const at = h("span", { id: "live-at", class: "muted" }, "connecting…");
    const pre = h("pre", { class: "live", id: "live-screen" });
    app.append(h("p", null, badge("ro", "read-only view"), " ", at), pre,
      h("p", { class: "muted small" }, "The pane's screen as the terminal emulator on the server renders it; watching is recorded in the audit log."));
    let stopped = false;
    const ctl = new AbortController();
    onLeave(() => { stopped = true; ctl.abort(); });
    let cursor = "";
    while (!stopped && live()) {
      try {
        const d = await api("live", { host: p.host, server: p.server, pane: p.pane, after: cursor }, { signal: ctl.signal });
        if (stopped || !live()) return;
        if (d.cursor !== cursor || !pre.firstChild) {
          cursor = d.cursor;
          const lines = d.lines || [];
          clear(pre);
          lines.forEach((line, y) => {
            const text = String(line);
            if (y === d.cursor_y && typeof d.cursor_x === "number") {
              const x = d.cursor_x;
              const padded = text.length > x ? text : text.padEnd(x + 1, " ");
              append(pre, [padded.slice(0, x), h("span", { class: "cur" }, padded[x]), padded.slice(x + 1)]);
            } else pre.append(text);
            if (y < lines.length - 1) pre.append("\n");
          });
        }
        at.textContent = `screen at ${fmtTime(d.at)} UTC · ${d.cols}×${d.rows}`;
      } catch (e) {
        if (stopped || e.name === "AbortError" || (e instanceof ApiError && e.status === 401)) return;
        at.textContent = `error: ${e.message}; retrying`;
        await new Promise((res) => setTimeout(res, 1000));
      }
    }
  };

  // ---------- Integrity ----------

  routes.integrity = async (app, p, live) => {
    app.append(h("h1", null, "Integrity"));
    const result = h("div", { id: "integrity-result" }, h("p", { class: "muted" }, "verifying the chain… (this reads every event)"));
    app.append(result);
    app.append(h("div", { class: "panel" },
      h("h2", null, "Proof-carrying exports"),
      h("p", null, "Any piece of a recording can be downloaded from the player together with its proof. The proof ties exactly that export to the hash chain and, when sealing is on, to a seal signed with the sealing key, so a third party can check it offline without this server:"),
      h("p", { class: "mono" }, "tmux-audit verify --export FILE --proof FILE.proof.json"),
      h("p", { class: "muted" }, "Open a session, pick a pane, and use the Export box under the player: each format has its “proof” link beside it.")));
    const data = await api("verify", hostParam(p));
    if (!live()) return;
    clear(result);
    const cards = h("div", { class: "cards" });
    for (const x of data.hosts || []) {
      const r = x.report || {};
      const seals = r.seals;
      let sealText = "";
      let lastSeal = "";
      if (typeof seals === "string") sealText = seals;
      else if (seals && typeof seals === "object") {
        const parts = [];
        if (seals.present !== undefined) parts.push(`${seals.present} present`);
        if (seals.checked !== undefined && seals.checked !== false) parts.push(`${seals.checked} checked`);
        if (seals.checked === false) parts.push("not checked (no key given)");
        if (seals.good !== undefined) parts.push(`${seals.good} good`);
        if (seals.unsealed !== undefined) parts.push(`${seals.unsealed} events after the last seal`);
        sealText = parts.join(", ");
        lastSeal = seals.last_seal || seals.last_time || "";
      }
      const findings = r.findings || [];
      cards.append(h("div", { class: `card ${x.ok ? "ok" : "bad"}`, dataset: { host: x.host || "" } },
        h("h3", null, x.host || "this host", x.ok ? badge("ok", "ok") : badge("bad", "not ok")),
        h("dl", { class: "kv" },
          h("dt", null, "Status"), h("dd", null, r.status || (x.ok ? "ok" : "not ok")),
          h("dt", null, "Events"), h("dd", null, String(x.events ?? r.events ?? "")),
          h("dt", null, "Findings"), h("dd", null, String(findings.length + (r.findings_not_shown || 0))),
          h("dt", null, "Seals"), h("dd", null, sealText || "—"),
          h("dt", null, "Last seal"), h("dd", null, lastSeal ? fmtTime(lastSeal) : "—"),
          r.head ? [h("dt", null, "Chain head"), h("dd", { class: "mono small" }, String(r.head).slice(0, 16) + "…")] : null),
        findings.length ? h("ul", null, findings.map((f) => h("li", null,
          badge(f.kind && /gap|late/.test(f.kind) ? "warn" : "bad", f.kind || "finding"), asText(f.message || f)))) : h("p", { class: "muted" }, "no finding"),
        r.findings_not_shown ? h("p", { class: "muted small" }, `${r.findings_not_shown} more not shown (run tmux-audit verify)`) : null,
        (r.notes || []).length ? h("ul", { class: "muted small" }, r.notes.map((n) => h("li", null, asText(n.message || n)))) : null));
    }
    result.append(cards);
    if (!(data.hosts || []).length) result.append(h("p", { class: "muted" }, "no host in this store"));
  };

  // ---------- start ----------

  async function start() {
    document.getElementById("logout").addEventListener("click", async () => {
      try {
        await api("logout", null, { method: "POST" });
      } catch (_) { /* going to the login page either way */ }
      toLogin();
    });
    try {
      me = await api("me");
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      clear(document.getElementById("app")).append(h("p", { class: "error" }, `cannot reach the server: ${e.message}`));
      return;
    }
    document.getElementById("me-user").textContent = me.user + (me.central ? " · central store" : "");
    window.addEventListener("hashchange", render);
    if (!location.hash || location.hash === "#" || location.hash === "#/") replaceHash("sessions", {});
    render();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
