// GridLink console: live updates over server-sent events, the grid map's panel and the case actions.
// Plain browser JavaScript, no libraries; every page works without it, this only makes it live.
"use strict";

(function () {
  const $ = (selector) => document.querySelector(selector);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  }

  // --- live stream ------------------------------------------------------------------------------------------
  const listeners = [];
  function startStream() {
    if (!$("nav")) return; // not signed in
    const board = $("#board");
    const after = board ? board.dataset.after : "";
    const source = new EventSource("/stream" + (after ? "?after=" + encodeURIComponent(after) : ""));
    const status = $("#live-status");
    source.onopen = () => { status.textContent = "live"; status.classList.add("on"); };
    source.onerror = () => { status.textContent = "reconnecting…"; status.classList.remove("on"); };
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      document.body.dataset.lastSeq = event.seq;
      listeners.forEach((listener) => listener(event));
    };
  }

  // --- live board -------------------------------------------------------------------------------------------
  function boardRow(event) {
    return el("tr", { class: "ev ev-" + event.type + " fresh", "data-seq": event.seq },
      el("td", {}, event.local_time),
      el("td", {}, el("span", { class: "badge " + event.source }, event.type)),
      el("td", {}, el("a", { href: "/cases/" + encodeURIComponent(event.correlation_id) },
        event.tracking_code || "case")),
      el("td", {}, event.grid_name || ""),
      el("td", {}, event.line));
  }
  function setUpBoard() {
    const rows = $("#board-rows");
    if (!rows) return;
    listeners.push((event) => {
      rows.prepend(boardRow(event));
      while (rows.children.length > 200) rows.lastElementChild.remove();
    });
  }

  // --- grid map ---------------------------------------------------------------------------------------------
  function setUpMap() {
    const map = $("#grid-map");
    if (!map) return;
    const form = $("#map-filters");
    form.querySelectorAll("select").forEach((select) => select.addEventListener("change", () => form.submit()));
    const panel = $("#grid-panel");
    map.addEventListener("click", async (click) => {
      const shape = click.target.closest("path.grid");
      if (!shape) return;
      map.querySelectorAll("path.selected").forEach((p) => p.classList.remove("selected"));
      shape.classList.add("selected");
      const response = await fetch("/api/grids/" + shape.dataset.code, { credentials: "same-origin" });
      const grid = await response.json();
      panel.replaceChildren();
      if (!response.ok) { panel.append(el("p", { class: "error" }, grid.error.description)); return; }
      panel.append(el("h2", { id: "panel-title" }, grid.name), el("p", { class: "code" }, grid.code));
      const cases = el("ul", { id: "grid-cases" });
      grid.cases.forEach((c) => cases.append(el("li", { class: c.overdue ? "overdue" : "" },
        el("a", { href: "/cases/" + encodeURIComponent(c.correlation_id) }, c.tracking_code || c.correlation_id),
        " " + c.state + (c.overdue ? " · overdue" : "") + " · " + (c.category_code || ""))));
      if (!grid.cases.length) cases.append(el("li", { class: "empty" }, "no cases"));
      const staff = el("ul", { id: "grid-staff" });
      grid.staff.forEach((s) => staff.append(el("li", {}, s.name + " · " + s.role.replace(/_/g, " "))));
      panel.append(el("h3", {}, "Cases (" + grid.cases.length + ")"), cases,
        el("h3", {}, "Staff (" + grid.staff.length + ")"), staff);
    });
    let pending = null;
    async function recolour() {
      pending = null;
      const response = await fetch("/api/map?metric=" + map.dataset.metric, { credentials: "same-origin" });
      if (!response.ok) return;
      const figures = (await response.json()).grids;
      map.querySelectorAll("path.grid").forEach((shape) => {
        const level = figures[shape.dataset.code] ? figures[shape.dataset.code].level : 0;
        shape.setAttribute("class", shape.getAttribute("class").replace(/level-\d/, "level-" + level));
      });
    }
    listeners.push(() => { if (!pending) pending = setTimeout(recolour, 1000); });
  }

  // --- case view --------------------------------------------------------------------------------------------
  function setUpCase() {
    const caseNode = $("#case");
    if (!caseNode) return;
    const timeline = $("#timeline");
    listeners.push((event) => {
      if (event.correlation_id !== caseNode.dataset.correlation) return;
      timeline.append(el("li", { "data-seq": event.seq, class: "fresh" }, el("time", {}, event.local_time), " ",
        el("span", { class: "badge " + event.source }, event.source), " " + event.line));
    });
  }

  // --- supervise / escalate ---------------------------------------------------------------------------------
  function setUpActions() {
    document.addEventListener("click", async (click) => {
      const button = click.target.closest("button.act");
      if (!button) return;
      const result = $("#act-result");
      const reason = ($("#act-reason") || { value: "" }).value.trim();
      button.disabled = true;
      result.className = "";
      result.textContent = "sending " + button.dataset.action + "…";
      try {
        const response = await fetch(
          "/api/cases/" + encodeURIComponent(button.dataset.case) + "/actions/" + button.dataset.action,
          { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ reason }) });
        const body = await response.json();
        const detail = body.error || (body.dispatch && body.dispatch.error) || null;
        result.className = response.ok ? "ok" : "error";
        const log = $("#action-log");
        if (log) {
          log.append(el("li", { class: "fresh" }, "just now: " + button.dataset.action + " (" + reason + ") → " +
            (body.dispatch_status || response.status)));
        }
        result.textContent = response.ok
          ? button.dataset.action + " sent; dispatch answered " + body.dispatch_status
          : "refused (" + response.status + "): " + (detail ? detail.description : "");
      } catch (error) {
        result.className = "error";
        result.textContent = "could not reach the console: " + error;
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpBoard();
    setUpMap();
    setUpCase();
    setUpActions();
    startStream();
  });
})();
