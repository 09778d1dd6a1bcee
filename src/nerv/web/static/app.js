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
  const VIEWS = ["board", "cycles", "decisions", "rules", "approvals", "costs", "audit", "task"];
  const APPROVALS_EVERY_MS = 2000;
  const BOARD_EVERY_MS = 3000;
  const TICK_MS = 1000; // the approval countdowns
  const SOON_S = 10; // a countdown turns red this close to the end

  const state = {
    view: "board",
    project: null,
    projects: [],
    boardKey: "",
    dragging: null,
    clockSkew: 0,
    taskId: null, // the task the detail view shows
    task: null, // its last loaded detail (for the editor)
    board: null, // the last board (task types, statuses, cycles for the "New task" form)
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

  // Views are named by the URL's hash: #board, #costs..., and #task/ID for one task.
  function showView(hash) {
    const [view, arg] = hash.split("/", 2);
    state.view = VIEWS.includes(view) ? view : "board";
    if (state.view === "task") {
      state.taskId = arg ? decodeURIComponent(arg) : null;
      if (!state.taskId) state.view = "board";
      if (!state.task || state.task.task.id !== state.taskId) {
        state.task = null;
        $("edit-task").disabled = true; // until this task is loaded
      }
    }
    if (state.view !== "task") document.title = "nerv dashboard";
    for (const name of VIEWS) {
      $(`view-${name}`).hidden = name !== state.view;
      const tab = $(`tab-${name}`);
      if (!tab) continue;
      const current = name === state.view || (state.view === "task" && name === "board");
      tab.setAttribute("aria-selected", String(current));
      tab.classList.toggle("active", current);
    }
    refresh();
  }

  function refresh() {
    const loaders = {
      board: loadBoard, cycles: loadCycles, decisions: loadDecisions, rules: loadRules,
      approvals: loadApprovals, costs: loadCosts, audit: loadAudit, task: loadTask,
    };
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
    state.board = data;
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
      el("a", { class: "card-title", href: `#task/${encodeURIComponent(task.id)}`, draggable: "false" }, task.title),
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

  // -- one task ---------------------------------------------------------------------------

  function chip(text, kind) {
    return el("span", { class: `chip chip-${kind}` }, text);
  }

  async function loadTask() {
    let data;
    try {
      data = await api(`/api/tasks/${encodeURIComponent(state.taskId)}`);
    } catch (err) {
      if (err.status !== 404 && err.code !== "ambiguous_id") throw err;
      $("task-title").textContent = "No such task";
      $("task-meta").replaceChildren();
      $("task-description").textContent = err.message;
      for (const id of ["task-cost", "task-models", "task-sessions", "task-audit"]) $(id).replaceChildren();
      return;
    }
    state.task = data;
    $("edit-task").disabled = false;
    const task = data.task;
    $("task-title").textContent = task.title;
    document.title = `${task.title} · nerv`;
    $("task-meta").replaceChildren(
      chip(COLUMN_LABEL[task.status] || task.status, `status-${task.status}`),
      el("span", { class: "type" }, task.type),
      el("span", {}, "in ", el("strong", {}, data.project.name)),
      el("span", {}, data.cycle ? `cycle ${data.cycle.number}${data.cycle.goal ? ` · ${short(data.cycle.goal, 40)}` : ""}` : "no cycle"),
      el("span", { class: "muted", title: when(task.created_at) }, `created ${age(task.created_at)}`),
      el("span", { class: "muted", title: when(task.updated_at) }, `updated ${age(task.updated_at)}`),
      el("code", { class: "short-id", title: task.id }, task.short_id),
    );
    const description = $("task-description");
    description.textContent = task.description || "No description.";
    description.classList.toggle("muted", !task.description);
    const tokens = data.cost.tokens;
    const total = tokens.input + tokens.output + tokens.cache_read + tokens.cache_write_5m + tokens.cache_write_1h;
    $("task-cost").replaceChildren(
      statCard("Cost", money(data.cost.total_usd)),
      statCard("Sessions", count(data.cost.sessions)),
      statCard("Tokens", count(total), `in ${count(tokens.input)} · out ${count(tokens.output)}`),
    );
    $("task-models").replaceChildren(...(data.cost.by_model.length
      ? data.cost.by_model.map((m) => el("tr", {},
        el("td", { class: "mono" }, m.model || "(no model)",
          m.unpriced_responses ? el("span", { class: "stat-warn" }, ` (${count(m.unpriced_responses)} unpriced)`) : null),
        el("td", { class: "num opt" }, count(m.responses)),
        el("td", { class: "num" }, count(m.total_tokens)),
        el("td", { class: "num" }, money(m.cost_usd))))
      : [emptyRow(4, "No usage recorded for this task.")]));
    $("task-sessions").replaceChildren(...(data.sessions.length
      ? data.sessions.map((s) => el("tr", {},
        el("td", { class: "mono", title: s.claude_session_id || s.id }, short(s.claude_session_id || s.short_id, 14)),
        el("td", { class: "nowrap", title: when(s.started_at) }, age(s.started_at)),
        el("td", {}, s.status),
        el("td", { class: "opt" }, s.model || "—"),
        el("td", { class: "num" }, count(s.tokens.input + s.tokens.output + s.tokens.cache_read + s.tokens.cache_write_5m + s.tokens.cache_write_1h)),
        el("td", { class: "num" }, money(s.cost_usd))))
      : [emptyRow(6, "No session has worked on this task yet.")]));
    $("task-audit").replaceChildren(...(data.audit.length
      ? data.audit.map((e) => el("tr", {},
        el("td", { class: "nowrap", title: when(e.at) }, when(e.at)),
        el("td", { class: "opt" }, e.actor),
        el("td", {}, el("span", { class: `action action-${e.action}` }, e.action)),
        el("td", { class: "change" }, e.summary)))
      : [emptyRow(4, "No audit entries.")]));
    clearError();
  }

  // -- the task editor (a dialog, for a new task and for an edit) --------------------------------

  function fillSelect(select, options, value) {
    select.replaceChildren(...options.map(([v, label]) => el("option", { value: v }, label)));
    select.value = value;
  }

  function openTaskEditor(task, context) {
    const form = $("task-form");
    form.reset();
    form.dataset.taskId = task ? task.id : "";
    form.dataset.updatedAt = task ? String(task.updated_at) : "";
    $("task-dialog-title").textContent = task ? `Edit “${short(task.title, 40)}”` : `New task in ${projectName()}`;
    $("task-form-save").textContent = task ? "Save" : "Create task";
    $("task-form-title").value = task ? task.title : "";
    $("task-form-description").value = task ? task.description || "" : "";
    fillSelect($("task-form-type"), context.task_types.map((t) => [t, t]), task ? task.type : "implementation");
    fillSelect($("task-form-status"), COLUMNS, task ? task.status : "todo");
    const cycles = context.cycles.map((c) => [c.id, `${c.number} · ${c.status}${c.goal ? ` · ${short(c.goal, 30)}` : ""}`]);
    const active = context.cycles.find((c) => c.status === "active");
    fillSelect($("task-form-cycle"), [["", "no cycle"], ...cycles], task ? task.cycle_id || "" : (active ? active.id : ""));
    $("task-form-error").hidden = true;
    $("task-form-save").disabled = false;
    $("task-dialog").showModal();
    $("task-form-title").focus();
  }

  async function saveTask(event) {
    event.preventDefault();
    const form = $("task-form");
    const editing = form.dataset.taskId;
    const body = {
      title: $("task-form-title").value,
      description: $("task-form-description").value,
      type: $("task-form-type").value,
      status: $("task-form-status").value,
      cycle_id: $("task-form-cycle").value || null,
    };
    if (editing) body.updated_at = Number(form.dataset.updatedAt);
    const save = $("task-form-save");
    save.disabled = true;
    try {
      const path = editing
        ? `/api/tasks/${encodeURIComponent(editing)}`
        : `/api/projects/${encodeURIComponent(state.project)}/tasks`;
      const data = await api(path, body);
      $("task-dialog").close();
      notice(`${editing ? "Saved" : "Created"} “${data.task.title}”.`, "ok");
      state.boardKey = "";
      await refresh();
    } catch (err) {
      const box = $("task-form-error");
      box.textContent = err.message;
      box.hidden = false;
      save.disabled = false;
    }
  }

  // -- cycles -----------------------------------------------------------------------------

  async function loadCycles() {
    const list = $("cycle-list");
    if (!state.project) {
      noProject(list);
      return;
    }
    const data = await api(projectPath("cycles"));
    $("cycles-title").textContent = `Cycles · ${data.project.name}`;
    $("cycles-hint").textContent = data.tasks_without_cycle
      ? `${count(data.tasks_without_cycle)} task${data.tasks_without_cycle === 1 ? " is" : "s are"} in no cycle.`
      : "";
    list.replaceChildren(...(data.cycles.length ? data.cycles.map(cycleCard) : [
      el("p", { class: "empty" }, "No cycles yet. Start one with ", el("code", {}, "nerv cycle create --goal \"…\""), "."),
    ]));
    clearError();
  }

  function cycleCard(cycle) {
    const total = cycle.tasks.length;
    const done = cycle.task_counts.done || 0;
    const fill = el("div", { class: "meter-fill level-ok" });
    fill.style.width = `${total ? (done / total) * 100 : 0}%`;
    const dates = [
      cycle.started_at ? `started ${when(cycle.started_at).slice(0, 10)}` : "not started",
      cycle.completed_at ? `completed ${when(cycle.completed_at).slice(0, 10)}` : null,
    ].filter(Boolean).join(" · ");
    return el("article", { class: `panel cycle cycle-${cycle.status}`, dataset: { cycleId: cycle.id } },
      el("header", { class: "cycle-head" },
        el("h2", {}, `Cycle ${cycle.number}`),
        chip(cycle.status, `cycle-${cycle.status}`),
        el("span", { class: "muted" }, dates),
        el("code", { class: "short-id", title: cycle.id }, cycle.short_id)),
      cycle.goal ? el("p", { class: "cycle-goal" }, cycle.goal) : null,
      el("div", { class: "cycle-progress" },
        el("div", { class: "meter wide", role: "img", "aria-label": `${done} of ${total} tasks done` }, fill),
        el("span", { class: "muted" }, `${done} of ${total} done`)),
      cycle.learnings ? el("p", { class: "cycle-learnings" }, el("strong", {}, "Learnings: "), cycle.learnings) : null,
      total ? el("ul", { class: "cycle-tasks" }, cycle.tasks.map((task) => el("li", {},
        chip(COLUMN_LABEL[task.status] || task.status, `status-${task.status}`),
        el("a", { href: `#task/${encodeURIComponent(task.id)}` }, task.title))))
        : el("p", { class: "muted" }, "No tasks in this cycle."),
    );
  }

  // -- decisions --------------------------------------------------------------------------

  async function loadDecisions() {
    const list = $("decision-list");
    if (!state.project) {
      noProject(list);
      return;
    }
    const select = $("decision-status");
    const status = select.value;
    const data = await api(projectPath(`decisions${status ? `?status=${encodeURIComponent(status)}` : ""}`));
    $("decisions-title").textContent = `Decisions · ${data.project.name}`;
    select.replaceChildren(el("option", { value: "" }, "all"),
      ...data.statuses.map((s) => el("option", { value: s }, `${s} (${data.counts[s] || 0})`)));
    select.value = status;
    list.replaceChildren(...(data.decisions.length ? data.decisions.map(decisionCard) : [
      el("p", { class: "empty" }, status ? `No ${status} decisions.` : "No decisions recorded yet. Add one with ",
        status ? null : el("code", {}, "nerv decision create \"…\""), status ? null : "."),
    ]));
    clearError();
  }

  function decisionCard(d) {
    const section = (label, text) => (text ? el("div", { class: "adr-part" }, el("h3", {}, label), el("p", {}, text)) : null);
    return el("article", { class: `panel decision decision-${d.status}`, dataset: { decisionId: d.id } },
      el("header", { class: "cycle-head" },
        el("h2", {}, d.title),
        chip(d.status, `decision-${d.status}`),
        d.cycle_number ? el("span", { class: "muted" }, `cycle ${d.cycle_number}`) : null,
        el("span", { class: "muted", title: when(d.created_at) }, when(d.created_at).slice(0, 10)),
        el("code", { class: "short-id", title: d.id }, d.short_id)),
      d.superseded_by ? el("p", { class: "superseded" }, "Superseded by ", el("strong", {}, d.superseded_by_title || d.superseded_by.slice(0, 8)), ".") : null,
      section("Context", d.context),
      section("Decision", d.decision),
      section("Alternatives", d.alternatives),
      section("Consequences", d.consequences),
    );
  }

  // -- rules ------------------------------------------------------------------------------

  async function loadRules() {
    const data = await api(`/api/rules${state.project ? `?project=${encodeURIComponent(state.project)}` : ""}`);
    $("rules-title").textContent = state.project ? `Rules · ${projectName()}` : "Rules";
    const action = $("rule-action").value;
    const needle = $("rule-search").value.trim().toLowerCase();
    const shown = data.rules.filter((r) => (!action || r.action === action)
      && (!needle || `${r.rule} ${r.note || ""}`.toLowerCase().includes(needle)));
    $("rules-body").replaceChildren(...(shown.length ? shown.map(ruleRow)
      : [emptyRow(5, data.rules.length ? "No rule matches the filter." : "No rules yet.")]));
    clearError();
  }

  function ruleRow(rule) {
    const toggle = el("button", {
      type: "button", class: "switch", role: "switch", "aria-checked": String(rule.enabled),
      "aria-label": `${rule.enabled ? "Disable" : "Enable"} ${rule.action} rule ${rule.rule}`,
      title: rule.enabled ? "Enabled: click to disable" : "Disabled: click to enable",
    }, el("span", { class: "switch-knob" }));
    toggle.addEventListener("click", async () => {
      toggle.disabled = true;
      try {
        const data = await api(`/api/rules/${encodeURIComponent(rule.id)}/${rule.enabled ? "disable" : "enable"}`, {});
        notice(`${data.rule.enabled ? "Enabled" : "Disabled"} ${data.rule.action} rule ${data.rule.rule}.`, "ok");
      } catch (err) {
        notice(err.message, "error");
      }
      await loadRules().catch((err) => notice(err.message, "error"));
    });
    return el("tr", { class: rule.enabled ? null : "disabled", dataset: { ruleId: rule.id } },
      el("td", {}, toggle),
      el("td", { class: "rule-text" }, el("code", {}, rule.rule)),
      el("td", {}, el("span", { class: `status rule-${rule.action}` }, rule.action)),
      el("td", {}, rule.scope === "global" ? "global" : rule.project_name || "project"),
      el("td", { class: "opt muted" }, rule.note || ""));
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
    tickCountdowns();
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
        el("span", { class: "expires", role: "timer", dataset: { expires: request.expires_at }, title: `The waiting hook stops waiting, and denies the call, at ${when(request.expires_at)}` }),
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

  // Each queued call's hook gives up at expires_at: count down to it, on the server's clock.
  function tickCountdowns() {
    const now = Date.now() + state.clockSkew;
    for (const node of document.querySelectorAll(".expires[data-expires]")) {
      const left = Math.ceil((Number(node.dataset.expires) - now) / 1000);
      const text = left > 0
        ? `expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`
        : "expired: the hook stopped waiting";
      if (node.textContent !== text) node.textContent = text;
      node.classList.toggle("soon", left <= SOON_S);
      const card = node.closest(".request");
      if (card) card.classList.toggle("is-expired", left <= 0);
    }
  }

  function recentRow(request) {
    return el("tr", {},
      el("td", { title: when(request.decided_at) }, age(request.decided_at || request.updated_at)),
      el("td", {}, el("span", { class: `status status-${request.status}` }, request.status)),
      el("td", {}, request.tool_name),
      el("td", { class: "mono", title: request.summary }, short(request.summary, 80)),
      el("td", { class: "opt" }, request.project_name || "—"),
      el("td", { class: "opt" }, request.decided_by || "—"));
  }

  function emptyRow(span, text) {
    return el("tr", {}, el("td", { colspan: span, class: "empty" }, text));
  }

  // -- costs ------------------------------------------------------------------------------

  // The cost range as API query parameters: the last N days, this month, or from / to.
  function costRange() {
    const choice = $("cost-range").value;
    $("cost-custom").hidden = choice !== "custom";
    if (choice === "month") {
      const today = new Date();
      const pad = (n) => String(n).padStart(2, "0");
      return `from=${today.getFullYear()}-${pad(today.getMonth() + 1)}-01`;
    }
    if (choice === "custom") {
      const params = new URLSearchParams();
      if ($("cost-from").value) params.set("from", $("cost-from").value);
      if ($("cost-to").value) params.set("to", $("cost-to").value);
      return params.toString() || "days=14";
    }
    return `days=${encodeURIComponent(choice)}`;
  }

  function tokenTotal(tokens) {
    const t = tokens || {};
    return (t.input || 0) + (t.output || 0) + (t.cache_read || 0) + (t.cache_write_5m || 0) + (t.cache_write_1h || 0);
  }

  async function loadCosts() {
    const range = costRange();
    const [overview, costs] = await Promise.all([
      api(`/api/costs?${range}`),
      state.project ? api(projectPath(`costs?${range}`)) : Promise.resolve(null),
    ]);
    const scope = costs || overview;
    const span = `${scope.range.from} – ${scope.range.to}`;
    $("costs-title").textContent = costs ? `Costs · ${costs.project.name}` : "Costs · all projects";
    $("costs-source").textContent = "From ingested Claude Code usage (nerv usage ingest) and session totals.";
    if ($("cost-range").value === "custom") {
      $("cost-from").value = scope.range.from;
      $("cost-to").value = scope.range.to;
    }
    const cards = [statCard(costs ? "Project, selected range" : "Selected range", money(scope.range_usd), span,
      false, scope.range_unpriced_responses ? `${count(scope.range_unpriced_responses)} responses without a price` : "")];
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

    const empty = scope.range_usd === 0 && scope.range_responses === 0 && !(scope.by_model || []).length;
    const banner = $("costs-empty");
    banner.hidden = !empty;
    banner.textContent = empty
      ? `No usage recorded ${costs ? `for ${costs.project.name} ` : ""}between ${scope.range.from} and ${scope.range.to}. `
        + "Run nerv usage ingest, or pick a longer range."
      : "";

    const chart = $("day-chart");
    $("day-chart-title").textContent = `Per day, ${span}`;
    if (!costs) {
      noProject(chart);
    } else if (empty) {
      chart.replaceChildren(el("p", { class: "empty" }, "No data for this range."));
    } else {
      drawDays(chart, costs.by_day);
    }

    const models = scope.by_model || [];
    const maxModel = Math.max(...models.map((m) => m.cost_usd), 0);
    $("models-cost-body").replaceChildren(...(models.length
      ? models.map((m) => el("tr", {},
        el("td", { class: "mono" }, m.label, m.unpriced_responses ? el("span", { class: "stat-warn", title: "responses without a price: their cost is unknown" }, ` (${count(m.unpriced_responses)} unpriced)`) : null),
        el("td", { class: "num opt" }, count(m.responses)),
        el("td", { class: "num", title: `in ${count(m.tokens.input)} · out ${count(m.tokens.output)} · cache read ${count(m.tokens.cache_read)}` }, count(tokenTotal(m.tokens))),
        el("td", { class: "num" }, money(m.cost_usd)),
        el("td", { class: "bar-col" }, meter(m.cost_usd, maxModel))))
      : [emptyRow(5, "No data for this range.")]));

    const projects = overview.projects;
    const maxProject = Math.max(...projects.map((p) => p.cost_usd), 0);
    $("projects-cost-body").replaceChildren(...(projects.length
      ? projects.map((p) => el("tr", { class: p.project_id === state.project ? "current" : null },
        el("td", {}, p.project_id ? p.name : "(no project)"),
        el("td", { class: "num" }, count(p.sessions)),
        el("td", { class: "num" }, money(p.cost_usd)),
        el("td", { class: "bar-col" }, meter(p.cost_usd, maxProject))))
      : [emptyRow(4, "No data for this range.")]));

    const sessions = costs ? costs.by_session : [];
    const maxSession = Math.max(...sessions.map((s) => s.cost_usd), 0);
    $("sessions-cost-body").replaceChildren(...(sessions.length
      ? sessions.map((s) => {
        const tokens = s.tokens || {};
        return el("tr", {},
          el("td", { class: "mono", title: s.label }, short(s.label, 14)),
          el("td", { class: "opt nowrap" }, when(s.started_at || s.first_at)),
          el("td", {}, s.task_id
            ? el("a", { href: `#task/${encodeURIComponent(s.task_id)}` }, s.task_title || s.task_id.slice(0, 8))
            : "—"),
          el("td", { class: "opt" }, (s.models || []).join(", ") || "—"),
          el("td", { class: "num opt", title: `in ${count(tokens.input)} · out ${count(tokens.output)} · cache read ${count(tokens.cache_read)}` }, count(tokenTotal(tokens))),
          el("td", { class: "num" }, money(s.cost_usd)),
          el("td", { class: "bar-col" }, meter(s.cost_usd, maxSession)));
      })
      : [emptyRow(7, state.project ? "No data for this range." : "No project selected.")]));
    clearError();
  }

  // Bars per day; with many days only every few days are labelled, so that labels never overlap.
  function drawDays(chart, days) {
    const max = Math.max(...days.map((d) => d.cost_usd), 0);
    const labelPx = 56; // room one "MM-DD" label needs, with a gap
    const every = Math.max(1, Math.ceil((days.length * labelPx) / Math.max(chart.clientWidth, labelPx)));
    chart.classList.toggle("dense", days.length > 14);
    chart.setAttribute("aria-label", `Cost per day, ${days.length} days`);
    chart.replaceChildren(...days.map((d, i) => {
      const bar = el("div", { class: "day-bar" });
      bar.style.height = `${max > 0 ? Math.max(d.cost_usd > 0 ? 2 : 0, (d.cost_usd / max) * 100) : 0}%`;
      const labelled = (days.length - 1 - i) % every === 0;
      return el("div", { class: "day", title: `${d.day}: ${money(d.cost_usd)}` },
        el("span", { class: "day-value" }, d.cost_usd > 0 ? money(d.cost_usd) : ""),
        el("div", { class: "day-track" }, bar),
        el("span", { class: "day-label" }, labelled ? d.day.slice(5) : ""));
    }));
  }

  function statCard(label, value, note, warn, alert) {
    return el("div", { class: "stat" },
      el("div", { class: "stat-label" }, label),
      el("div", { class: "stat-value" }, value),
      note ? el("div", { class: warn ? "stat-note stat-warn" : "stat-note" }, note) : null,
      alert ? el("div", { class: "stat-note stat-warn" }, alert) : null);
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
        el("td", { class: "opt" }, e.actor),
        el("td", {}, e.entity_type),
        el("td", { class: "opt" }, el("code", { title: e.entity_id }, e.short_id)),
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
    $("new-task").addEventListener("click", () => {
      if (!state.project || !state.board) notice("Create a project first: nerv project create NAME", "error");
      else openTaskEditor(null, state.board);
    });
    $("edit-task").addEventListener("click", () => { if (state.task) openTaskEditor(state.task.task, state.task); });
    $("task-form").addEventListener("submit", saveTask);
    $("task-form-cancel").addEventListener("click", () => $("task-dialog").close());
    $("decision-status").addEventListener("change", () => refresh());
    for (const id of ["rule-action", "rule-search"]) $(id).addEventListener("input", () => refresh());
    $("rule-filter").addEventListener("submit", (event) => event.preventDefault());
    $("decision-filter").addEventListener("submit", (event) => event.preventDefault());
    $("cost-range").addEventListener("change", () => {
      if ($("cost-range").value !== "custom") refresh();
      else { costRange(); $("cost-from").focus(); }
    });
    $("cost-range-form").addEventListener("submit", (event) => {
      event.preventDefault();
      refresh();
    });
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
    setInterval(tickCountdowns, TICK_MS);
    setInterval(() => {
      if (state.view === "board" && !state.dragging && !document.hidden && !$("task-dialog").open) {
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
