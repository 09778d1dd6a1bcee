// nerv dashboard: vanilla JS over the JSON API in nerv/web/api.py.
// All user text goes into the page as text nodes or attribute values (el() below), never as markup.
"use strict";

(() => {
  const COLUMNS = [
    ["todo", "To do"],
    ["in_progress", "In progress"],
    ["interrupted", "Interrupted"],
    ["review", "Review"],
    ["done", "Done"],
  ];
  const COLUMN_LABEL = Object.fromEntries(COLUMNS);
  const VIEWS = ["board", "approvals", "costs", "audit"];
  const APPROVALS_EVERY_MS = 2000;
  const BOARD_EVERY_MS = 3000;

  const state = {
    view: "board",
    project: null,
    projects: [],
    boardKey: "",
    dragging: null,
    clockSkew: 0,
  };

  // -- DOM helpers ----------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function money(value) {
    const amount = Number(value) || 0;
    if (amount !== 0 && Math.abs(amount) < 0.01) return "$" + amount.toFixed(4);
    return "$" + amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function count(value) {
    return (Number(value) || 0).toLocaleString("en-US");
  }

  function when(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function age(ms) {
    const seconds = Math.max(0, Math.round((Date.now() + state.clockSkew - ms) / 1000));
    if (seconds < 60) return `${seconds}s ago`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m ago`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours}h ${minutes % 60}m ago`;
    return `${Math.floor(hours / 24)}d ago`;
  }

  function short(text, max) {
    const s = String(text ?? "");
    return s.length > max ? s.slice(0, max - 1) + "…" : s;
  }

  let noticeTimer = null;
  function notice(message, kind) {
    const box = $("notice");
    box.textContent = message;
    box.className = `notice notice-${kind || "info"}`;
    box.hidden = false;
    clearTimeout(noticeTimer);
    if (kind !== "error") noticeTimer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  function clearError() {
    const box = $("notice");
    if (box.classList.contains("notice-error")) box.hidden = true;
  }

  // -- API ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(code, message, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  async function api(path, body) {
    const init = { headers: { Accept: "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError("network", "Cannot reach the nerv server. Is `nerv web` still running?", 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : { code: `http_${response.status}`, message: response.statusText };
      throw new ApiError(error.code, error.message, response.status);
    }
    $("footer-updated").textContent = `updated ${when(Date.now())}`;
    return data;
  }

  const projectPath = (suffix) => `/api/projects/${encodeURIComponent(state.project)}/${suffix}`;

  // -- projects and navigation -------------------------------------------------------------

  async function loadProjects() {
    const data = await api("/api/projects");
    state.projects = data.projects;
    const wanted = new URLSearchParams(location.search).get("project");
    const ids = data.projects.map((p) => p.id);
    state.project = ids.includes(wanted) ? wanted : (data.default_project_id || ids[0] || null);
    const select = $("project-select");
    select.replaceChildren(
      ...data.projects.map((p) => el("option", { value: p.id }, `${p.name} (${p.short_id})`)),
    );
    select.disabled = data.projects.length === 0;
    if (state.project) select.value = state.project;
    else select.append(el("option", { value: "" }, "no projects yet"));
  }

  function projectName() {
    const project = state.projects.find((p) => p.id === state.project);
    return project ? project.name : "";
  }

  function showView(view) {
    state.view = VIEWS.includes(view) ? view : "board";
    for (const name of VIEWS) {
      $(`view-${name}`).hidden = name !== state.view;
      const tab = $(`tab-${name}`);
      tab.setAttribute("aria-selected", String(name === state.view));
      tab.classList.toggle("active", name === state.view);
    }
    refresh();
  }

  function refresh() {
    const loaders = { board: loadBoard, approvals: loadApprovals, costs: loadCosts, audit: loadAudit };
    return loaders[state.view]().catch((err) => notice(err.message, "error"));
  }

  function noProject(container) {
    container.replaceChildren(
      el("p", { class: "empty" }, "No project yet. Create one with ", el("code", {}, "nerv project create NAME"), "."),
    );
  }

  // -- board ------------------------------------------------------------------------------

  async function loadBoard(force) {
    const board = $("board");
    if (!state.project) {
      noProject(board);
      return;
    }
    const data = await api(projectPath("board"));
    $("board-title").textContent = `Board · ${data.project.name}`;
    const key = JSON.stringify(data.columns);
    if (!force && key === state.boardKey && board.childElementCount) return;
    state.boardKey = key;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focusKey : null;
    board.replaceChildren(...COLUMNS.map(([status, label], index) => column(status, label, index, data.columns[status] || [])));
    if (focused) {
      const again = board.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    clearError();
  }

  function column(status, label, index, tasks) {
    const list = el("ol", { class: "cards" }, tasks.map((task) => card(task, index)));
    const col = el(
      "section",
      { class: `column column-${status}`, dataset: { status }, "aria-label": `${label}: ${tasks.length} tasks` },
      el("header", { class: "column-head" }, el("h2", {}, label), el("span", { class: "count" }, String(tasks.length))),
      tasks.length ? list : el("p", { class: "column-empty" }, "No tasks"),
    );
    col.addEventListener("dragover", (event) => {
      if (!state.dragging || state.dragging.status === status) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      col.classList.add("drop-target");
    });
    col.addEventListener("dragleave", (event) => {
      if (!col.contains(event.relatedTarget)) col.classList.remove("drop-target");
    });
    col.addEventListener("drop", (event) => {
      event.preventDefault();
      col.classList.remove("drop-target");
      const task = state.dragging;
      state.dragging = null;
      if (task && task.status !== status) moveTask(task, status);
    });
    return col;
  }

  function card(task, index) {
    // Arrow buttons move one column; the select reaches any column in one step (keyboard friendly).
    const arrow = (offset, glyph) => {
      const target = COLUMNS[index + offset];
      if (!target) return el("span", { class: "move-placeholder" });
      const [to, toLabel] = target;
      return el("button", {
        type: "button", class: "move", title: `Move to ${toLabel}`,
        "aria-label": `Move “${task.title}” to ${toLabel}`,
        dataset: { focusKey: `${task.id}:${offset}`, to },
        onclick: () => moveTask(task, to),
      }, glyph);
    };
    const picker = el("select", {
      class: "move-select", "aria-label": `Move “${task.title}” to…`,
      dataset: { focusKey: `${task.id}:select` },
      onchange: (event) => { if (event.target.value) moveTask(task, event.target.value); },
    },
    el("option", { value: "" }, "Move to…"),
    COLUMNS.filter(([status]) => status !== task.status).map(([status, label]) => el("option", { value: status }, label)));
    const actions = [arrow(-1, "←"), picker, arrow(1, "→")];
    const item = el(
      "li",
      { class: "card", draggable: "true", dataset: { taskId: task.id, status: task.status } },
      el("div", { class: "card-title" }, task.title),
      task.description ? el("p", { class: "card-desc" }, short(task.description, 140)) : null,
      el("div", { class: "card-meta" },
        el("span", { class: "type" }, task.type),
        el("code", { class: "short-id", title: task.id }, task.short_id)),
      el("div", { class: "card-actions" }, actions),
    );
    item.addEventListener("dragstart", (event) => {
      state.dragging = task;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", task.id);
      item.classList.add("dragging");
    });
    item.addEventListener("dragend", () => {
      state.dragging = null;
      item.classList.remove("dragging");
      document.querySelectorAll(".drop-target").forEach((node) => node.classList.remove("drop-target"));
    });
    return item;
  }

  async function moveTask(task, to) {
    try {
      await api(`/api/tasks/${encodeURIComponent(task.id)}/move`, { status: to, from: task.status });
      notice(`Moved “${task.title}” to ${COLUMN_LABEL[to]}.`, "ok");
    } catch (err) {
      notice(err.message, "error");
    }
    await loadBoard(true).catch((err) => notice(err.message, "error"));
    const moved = document.querySelector(`.card[data-task-id="${CSS.escape(task.id)}"] .move-select`);
    if (moved) moved.focus();
  }

  // -- approvals --------------------------------------------------------------------------

  async function loadApprovals() {
    const data = await api("/api/approvals?recent=20");
    state.clockSkew = data.now - Date.now();
    const badge = $("pending-badge");
    badge.hidden = data.pending.length === 0;
    badge.textContent = String(data.pending.length);
    badge.setAttribute("aria-label", `${data.pending.length} pending`);
    if (state.view !== "approvals") return;
    // Keyed update: cards of requests still pending are kept as they are (with any choice made
    // in their "Decide for" menu); new requests get a card, decided ones lose theirs.
    const list = $("pending-list");
    const existing = new Map([...list.querySelectorAll(".request")].map((node) => [node.dataset.requestId, node]));
    const cards = data.pending.map((request) => existing.get(request.id) || requestCard(request));
    if (!cards.length) {
      list.replaceChildren(el("p", { class: "empty" }, "Nothing is waiting for approval."));
    } else if (cards.length !== list.children.length || cards.some((node, i) => list.children[i] !== node)) {
      list.replaceChildren(...cards);
    }
    for (const node of list.querySelectorAll("time[data-at]")) node.textContent = age(Number(node.dataset.at));
    $("recent-body").replaceChildren(
      ...(data.recent.length ? data.recent.map(recentRow) : [emptyRow(6, "No decisions yet.")]),
    );
    clearError();
  }

  function requestCard(request) {
    const full = JSON.stringify(request.tool_input, null, 2);
    const remember = el("select", { class: "remember", "aria-label": "Remember as a rule" },
      el("option", { value: "" }, "this call only"),
      request.suggestions.map((rule) => el("option", { value: rule }, `every call matching ${rule}`)));
    const scope = request.project_id ? "project" : "global";
    const decide = async (decision, button) => {
      button.disabled = true;
      const body = {};
      if (remember.value) {
        body.remember = remember.value;
        body.scope = scope;
      }
      try {
        await api(`/api/approvals/${encodeURIComponent(request.id)}/${decision}`, body);
        notice(`${decision === "approve" ? "Approved" : "Denied"} ${request.tool_name}: ${short(request.summary, 60)}`, "ok");
      } catch (err) {
        notice(err.message, "error");
        button.disabled = false;
      }
      await loadApprovals().catch((err) => notice(err.message, "error"));
    };
    const approve = el("button", { type: "button", class: "btn btn-approve" }, "Approve");
    const deny = el("button", { type: "button", class: "btn btn-deny" }, "Deny");
    approve.addEventListener("click", () => decide("approve", approve));
    deny.addEventListener("click", () => decide("deny", deny));
    return el("article", { class: "request", dataset: { requestId: request.id } },
      el("header", { class: "request-head" },
        el("span", { class: "tool" }, request.tool_name),
        el("span", { class: "request-project" }, request.project_name || "no project"),
        el("time", { class: "age", dataset: { at: request.created_at }, datetime: new Date(request.created_at).toISOString(), title: when(request.created_at) }, age(request.created_at)),
        el("code", { class: "short-id", title: request.id }, request.short_id)),
      el("pre", { class: "request-input" }, request.summary),
      request.cwd ? el("p", { class: "request-cwd" }, "in ", el("code", {}, request.cwd)) : null,
      Object.keys(request.tool_input || {}).length > 1
        ? el("details", { class: "request-full" }, el("summary", {}, "Full input"), el("pre", {}, full))
        : null,
      el("div", { class: "request-actions" },
        el("label", { class: "remember-label", title: scope === "project"
          ? "A rule for this project is saved with the decision"
          : "A global rule is saved with the decision (the request has no project)" },
        "Decide for ", remember),
        el("span", { class: "spacer" }),
        deny, approve),
    );
  }

  function recentRow(request) {
    return el("tr", {},
      el("td", { title: when(request.decided_at) }, age(request.decided_at || request.updated_at)),
      el("td", {}, el("span", { class: `status status-${request.status}` }, request.status)),
      el("td", {}, request.tool_name),
      el("td", { class: "mono", title: request.summary }, short(request.summary, 80)),
      el("td", {}, request.project_name || "—"),
      el("td", {}, request.decided_by || "—"));
  }

  function emptyRow(span, text) {
    return el("tr", {}, el("td", { colspan: span, class: "empty" }, text));
  }

  // -- costs ------------------------------------------------------------------------------

  async function loadCosts() {
    const [overview, costs] = await Promise.all([
      api("/api/costs"),
      state.project ? api(projectPath("costs?days=14")) : Promise.resolve(null),
    ]);
    $("costs-title").textContent = costs ? `Costs · ${costs.project.name}` : "Costs";
    $("costs-source").textContent = overview.source === "usage"
      ? "From ingested Claude Code usage (nerv usage ingest) and session totals."
      : "From the sessions' recorded cost.";
    const cards = [];
    if (costs) {
      cards.push(statCard("Project total", money(costs.total_usd), "all time"));
      cards.push(statCard("Project today", money(costs.today_usd)));
      cards.push(statCard("Project this month", money(costs.month_usd),
        costs.unpriced_responses ? `${count(costs.unpriced_responses)} responses without a price` : "", true));
    }
    cards.push(statCard("All projects today", money(overview.today_usd)));
    cards.push(statCard("All projects this month", money(overview.month_usd),
      overview.unassigned_sessions ? `${count(overview.unassigned_sessions)} sessions without a project` : "", true));
    $("cost-cards").replaceChildren(...cards);

    const budgets = [...overview.budgets, ...(costs ? costs.budgets.filter((b) => b.scope === "project") : [])];
    $("budgets").replaceChildren(...budgets.map(budgetLine));

    const chart = $("day-chart");
    if (costs) {
      const max = Math.max(...costs.by_day.map((d) => d.cost_usd), 0);
      chart.setAttribute("aria-label", `Cost per day, last ${costs.by_day.length} days`);
      chart.replaceChildren(...costs.by_day.map((d) => {
        const bar = el("div", { class: "day-bar" });
        bar.style.height = `${max > 0 ? Math.max(d.cost_usd > 0 ? 2 : 0, (d.cost_usd / max) * 100) : 0}%`;
        return el("div", { class: "day", title: `${d.day}: ${money(d.cost_usd)}` },
          el("span", { class: "day-value" }, d.cost_usd > 0 ? money(d.cost_usd) : ""),
          el("div", { class: "day-track" }, bar),
          el("span", { class: "day-label" }, d.day.slice(5)));
      }));
    } else {
      noProject(chart);
    }

    const maxProject = Math.max(...overview.projects.map((p) => p.cost_usd), 0);
    $("projects-cost-body").replaceChildren(...(overview.projects.length
      ? overview.projects.map((p) => el("tr", { class: p.project_id === state.project ? "current" : null },
        el("td", {}, p.project_id ? p.name : "(no project)"),
        el("td", { class: "num" }, count(p.sessions)),
        el("td", { class: "num" }, money(p.cost_usd)),
        el("td", { class: "bar-col" }, meter(p.cost_usd, maxProject))))
      : [emptyRow(4, "No usage recorded yet.")]));

    const sessions = costs ? costs.by_session : [];
    const maxSession = Math.max(...sessions.map((s) => s.cost_usd), 0);
    $("sessions-cost-body").replaceChildren(...(sessions.length
      ? sessions.map((s) => {
        const tokens = s.tokens || {};
        const total = (tokens.input || 0) + (tokens.output || 0) + (tokens.cache_read || 0)
          + (tokens.cache_write_5m || 0) + (tokens.cache_write_1h || 0);
        return el("tr", {},
          el("td", { class: "mono", title: s.label }, short(s.label, 14)),
          el("td", {}, when(s.started_at || s.first_at)),
          el("td", {}, s.task_title || "—"),
          el("td", {}, (s.models || []).join(", ") || "—"),
          el("td", { class: "num", title: `in ${count(tokens.input)} · out ${count(tokens.output)} · cache read ${count(tokens.cache_read)}` }, count(total)),
          el("td", { class: "num" }, money(s.cost_usd)),
          el("td", { class: "bar-col" }, meter(s.cost_usd, maxSession)));
      })
      : [emptyRow(7, state.project ? "No sessions with a cost in this project." : "No project selected.")]));
    clearError();
  }

  function statCard(label, value, note, warn) {
    return el("div", { class: "stat" },
      el("div", { class: "stat-label" }, label),
      el("div", { class: "stat-value" }, value),
      note ? el("div", { class: warn ? "stat-note stat-warn" : "stat-note" }, note) : null);
  }

  function budgetLine(b) {
    const pct = Math.round((b.fraction || 0) * 100);
    const fill = el("div", { class: `meter-fill level-${b.level}` });
    fill.style.width = `${Math.min(100, pct)}%`;
    return el("div", { class: "budget" },
      el("span", { class: "budget-label" }, `${b.scope === "global" ? "All projects" : "Project"} · ${b.period} budget`),
      el("div", { class: "meter wide" }, fill),
      el("span", { class: "budget-value" }, `${money(b.spent_usd)} of ${money(b.limit_usd)} (${pct}%)`));
  }

  function meter(value, max) {
    const fill = el("div", { class: "meter-fill" });
    fill.style.width = `${max > 0 ? (value / max) * 100 : 0}%`;
    return el("div", { class: "meter", "aria-hidden": "true" }, fill);
  }

  // -- audit ------------------------------------------------------------------------------

  async function loadAudit() {
    const entity = $("audit-entity").value;
    const limit = $("audit-limit").value;
    const params = new URLSearchParams({ limit });
    if (entity) params.set("entity", entity);
    const data = await api(`/api/audit?${params}`);
    const select = $("audit-entity");
    select.replaceChildren(el("option", { value: "" }, "all"),
      ...data.entity_types.map((t) => el("option", { value: t }, t)));
    select.value = entity;
    $("audit-body").replaceChildren(...(data.entries.length
      ? data.entries.map((e) => el("tr", {},
        el("td", { class: "nowrap" }, when(e.at)),
        el("td", {}, e.actor),
        el("td", {}, e.entity_type),
        el("td", {}, el("code", { title: e.entity_id }, e.short_id)),
        el("td", {}, el("span", { class: `action action-${e.action}` }, e.action)),
        el("td", { class: "change" }, e.summary)))
      : [emptyRow(6, "No audit entries match.")]));
    clearError();
  }

  // -- start ------------------------------------------------------------------------------

  async function start() {
    $("project-select").addEventListener("change", (event) => {
      state.project = event.target.value || null;
      state.boardKey = "";
      const url = new URL(location.href);
      url.searchParams.set("project", state.project || "");
      history.replaceState(null, "", url);
      refresh();
    });
    $("audit-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      refresh();
    });
    $("audit-entity").addEventListener("change", () => refresh());
    $("audit-limit").addEventListener("change", () => refresh());
    window.addEventListener("hashchange", () => showView(location.hash.slice(1)));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
    try {
      const health = await api("/api/health");
      $("footer-db").textContent = `nerv ${health.version} · ${health.db}`;
      await loadProjects();
    } catch (err) {
      notice(err.message, "error");
    }
    showView(location.hash.slice(1));
    loadApprovals().catch(() => {});
    setInterval(() => {
      loadApprovals().catch((err) => { if (state.view === "approvals") notice(err.message, "error"); });
    }, APPROVALS_EVERY_MS);
    setInterval(() => {
      if (state.view === "board" && !state.dragging && !document.hidden) {
        loadBoard().catch((err) => notice(err.message, "error"));
      }
    }, BOARD_EVERY_MS);
  }

  // -- live updates (nerv serve) -----------------------------------------------------------
  // The server sends a "change" event whenever the database changes (a hook queued a call,
  // someone decided one...) and with it what each active session is doing. Changes are
  // coalesced over LIVE_DELAY_MS, so a burst of writes costs one reload.

  const LIVE_DELAY_MS = 40;
  const ACTIVITY_LABELS = { working: "working", waiting: "waiting for permission", idle: "idle" };

  function follow() {
    if (!window.EventSource) return;
    let pending = null;
    const source = new EventSource("/api/events");
    source.addEventListener("change", (event) => {
      let data = {};
      try { data = JSON.parse(event.data); } catch (_) { data = {}; }
      showActivity(data.sessions || {});
      if (pending !== null) return;
      pending = setTimeout(() => {
        pending = null;
        loadApprovals().catch(() => {});
        if (state.view !== "approvals" && !state.dragging && !document.hidden) refresh();
      }, LIVE_DELAY_MS);
    });
  }

  function showActivity(sessions) {
    const box = $("live-sessions");
    if (!box) return;
    const entries = Object.entries(sessions).sort((a, b) => b[1].since - a[1].since);
    box.replaceChildren(...entries.map(([id, s]) => el(
      "span", { class: `live live-${s.activity}`, "data-session": id, title: `since ${when(s.since)}` },
      `${id.slice(0, 8)} ${ACTIVITY_LABELS[s.activity] || s.activity}`,
    )));
  }

  document.addEventListener("DOMContentLoaded", () => { start(); follow(); });
})();
