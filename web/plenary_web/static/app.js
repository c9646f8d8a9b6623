/* Plenary's own script: progressive enhancement of the server-rendered pages. Without it every page still works.
 *
 * - the browser's time zone goes into the `tz` cookie (the server renders times in it, naming the zone);
 * - forms with data-api-method / data-api-path are sent to /api/... with fetch (X-CSRF-Token from the
 *   plenary_csrf cookie; the HttpOnly cookies sign the call in); a problem answer shows its sentence next to the
 *   field it names; data-then says what follows a success (reload | asked | vote | message);
 * - one EventSource on /api/live for the channels named in <body data-channels>: the unread badge, the facts
 *   charts, the live Q&A and viewer count, new messages;
 * - a live session page joins the session and sends heartbeats while open.
 */
(function () {
  "use strict";

  var L = {};
  try { L = JSON.parse(document.getElementById("js-labels").textContent); } catch (e) { L = {}; }

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_m, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return "";
  }

  function announce(text) {
    var region = document.getElementById("live-announcer");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || "en");
  function fmt(n) { return typeof n === "number" ? numberFormat.format(n) : String(n); }

  /* ---- time zone ---------------------------------------------------------------------------------------- */
  (function timeZone() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    if (!zone || cookie("tz") === zone) return;
    var first = !cookie("tz");
    document.cookie = "tz=" + encodeURIComponent(zone) + "; Max-Age=31536000; Path=/; SameSite=Lax";
    // the first visit was rendered in UTC: show it again in the viewer's zone (once; the cookie is set now)
    if (first && cookie("tz") === zone && document.body.getAttribute("data-tz") !== zone &&
        !sessionStorage.getItem("plenary-tz-reloaded")) {
      sessionStorage.setItem("plenary-tz-reloaded", "1");
      window.location.reload();
    }
  })();

  /* ---- API calls ---------------------------------------------------------------------------------------- */
  function api(method, path, body) {
    var headers = { "Accept": "application/json", "X-CSRF-Token": cookie("plenary_csrf") };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      if (response.status === 204) return null;
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var problem = data || {};
          problem.status = response.status;
          if (!problem.detail) problem.detail = L.error || "Error";
          throw problem;
        }
        return data;
      });
    });
  }

  function fieldName(error) {
    var name = error.field;
    if (!name && Array.isArray(error.loc)) {
      name = error.loc.filter(function (p) { return ["body", "query", "path", "header"].indexOf(p) < 0; }).join(".");
    }
    return String(name || "").split(".").filter(function (p) { return !/^\d+$/.test(p); }).join(".");
  }

  function sentence(text) {
    text = String(text || "").replace(/^Value error, /, "").trim();
    if (!text) return text;
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (el) { el.hidden = true; el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var summary = form.querySelector("[data-form-summary]");
    if (summary) { summary.hidden = true; summary.textContent = ""; }
  }

  function showProblem(form, problem) {
    var placed = false;
    (problem.errors || []).forEach(function (error) {
      var name = fieldName(error);
      var slot = form.querySelector('[data-error-for="' + name + '"]');
      if (slot && (error.message || error.msg)) {
        slot.textContent = sentence(error.message || error.msg);
        slot.hidden = false;
        var input = form.querySelector('[name="' + name + '"]');
        if (input) input.setAttribute("aria-invalid", "true");
        placed = true;
      }
    });
    var match = /^'([A-Za-z0-9_.]+)'/.exec(problem.detail || "");
    if (!placed && match) {
      var slot = form.querySelector('[data-error-for="' + match[1] + '"]');
      if (slot) { slot.textContent = problem.detail; slot.hidden = false; placed = true; }
    }
    var summary = form.querySelector("[data-form-summary]");
    if (summary) {
      summary.textContent = problem.detail || L.error;
      summary.hidden = false;
      summary.focus && summary.focus();
    } else if (!placed) {
      announce(problem.detail || L.error);
    }
  }

  function formBody(form) {
    var body = {};
    form.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (!el.name || el.name === "csrf_token" || el.type === "hidden" || el.disabled) return;
      if (el.type === "checkbox") { body[el.name] = el.checked; return; }
      if (el.type === "radio") { if (el.checked) body[el.name] = el.value; return; }
      body[el.name] = el.value;
    });
    return body;
  }

  var afterSuccess = {
    reload: function () { window.location.reload(); },
    asked: function (form, result) {
      form.reset();
      if (result) upsertQuestion(result, true);
      announce(result && result.status === "pending" ? L.awaiting : L.new_question);
    },
    vote: function (form, result) {
      var button = form.querySelector("button");
      var voted = form.getAttribute("data-api-method") === "PUT";
      form.setAttribute("data-api-method", voted ? "DELETE" : "PUT");
      if (button) button.setAttribute("aria-pressed", voted ? "true" : "false");
      if (result && typeof result.votes === "number") setVotes(result.question_id, result.votes);
    },
    message: function (form, result) {
      form.reset();
      if (result) appendMessage(result);
    }
  };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-api-path")) return;
    event.preventDefault();
    var method = form.getAttribute("data-api-method") || "POST";
    var body = method === "DELETE" || method === "PUT" && !form.querySelector("textarea, select, input:not([type=hidden])")
      ? null : formBody(form);
    var button = form.querySelector("button[type=submit], button:not([type])");
    if (button) button.disabled = true;
    clearErrors(form);
    api(method, form.getAttribute("data-api-path"), body).then(function (result) {
      (afterSuccess[form.getAttribute("data-then") || "reload"] || afterSuccess.reload)(form, result);
    }).catch(function (problem) {
      if (problem && problem.status === 401) {
        window.location.href = "/signin?next=" + encodeURIComponent(window.location.pathname);
        return;
      }
      showProblem(form, problem || {});
    }).then(function () { if (button) button.disabled = false; });
  });

  /* ---- charts (same markup as templates/_charts.html; geometry as plenary_web/charts.py) ----------------- */
  var SVG = "http://www.w3.org/2000/svg";
  var BAR_WIDTH = 600, BAR_ROW = 44, BAR_THICKNESS = 16, BAR_LABEL_HEIGHT = 18;

  function el(name, attrs, text, ns) {
    var node = ns ? document.createElementNS(SVG, name) : document.createElement(name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function valueOf(count, minCell) { return typeof count === "number" ? count : minCell / 2; }
  function shown(count, minCell) { return typeof count === "number" ? fmt(count) : fill(L.fewer_than, { n: minCell }); }
  function labelOf(kind, key, fallback) { return (L[kind] && L[kind][key]) || fallback || key; }
  function suffix(percent) { return percent === null || percent === undefined ? "" : " (" + percent + " %)"; }

  function rowsOf(cells, kind, limit) {
    return Object.keys(cells || {}).slice(0, limit || undefined).map(function (key) {
      var c = cells[key];
      return { key: key, label: labelOf(kind, key, kind === "page" ? key : c.label), count: c.count, percent: c.percent };
    });
  }

  function fillTable(figure, rows, minCell) {
    var body = figure.querySelector("[data-table] tbody");
    if (!body) return;
    body.textContent = "";
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("th", { scope: "row" }, r.label));
      tr.appendChild(el("td", {}, shown(r.count, minCell)));
      tr.appendChild(el("td", {}, r.percent === null || r.percent === undefined ? "" : r.percent + " %"));
      body.appendChild(tr);
    });
  }

  function drawBars(id, cells, kind, minCell, limit) {
    var figure = document.getElementById(id);
    if (!figure) return;
    var rows = rowsOf(cells, kind, limit);
    var top = Math.max.apply(null, rows.map(function (r) { return valueOf(r.count, minCell); }).concat([0])) || 1;
    var height = Math.max(rows.length * BAR_ROW, BAR_ROW);
    var svg = figure.querySelector("svg");
    svg.setAttribute("viewBox", "0 0 " + BAR_WIDTH + " " + height);
    svg.textContent = "";
    rows.forEach(function (r, i) {
      var value = valueOf(r.count, minCell);
      var width = Math.round(Math.max(value / top * (BAR_WIDTH - 80), value ? 2 : 0) * 10) / 10;
      var g = el("g", { transform: "translate(0 " + i * BAR_ROW + ")" }, null, true);
      g.appendChild(el("text", { x: 0, y: BAR_LABEL_HEIGHT - 4, "class": "bar-label" }, r.label, true));
      g.appendChild(el("rect", { x: 0, y: BAR_LABEL_HEIGHT + 2, width: width, height: BAR_THICKNESS, rx: 3, "class": "bar" }, null, true));
      g.appendChild(el("text", { x: width + 6, y: BAR_LABEL_HEIGHT + BAR_THICKNESS - 1, "class": "bar-value" },
        shown(r.count, minCell) + suffix(r.percent), true));
      svg.appendChild(g);
    });
    fillTable(figure, rows, minCell);
  }

  function drawDonut(id, cells, kind, minCell) {
    var figure = document.getElementById(id);
    if (!figure) return;
    var rows = rowsOf(cells, kind);
    var total = rows.reduce(function (sum, r) { return sum + valueOf(r.count, minCell); }, 0) || 1;
    var svg = figure.querySelector("svg");
    var radius = 15.915494309189533;
    svg.textContent = "";
    svg.appendChild(el("circle", { cx: 21, cy: 21, r: radius, "class": "donut-hole" }, null, true));
    var legend = figure.querySelector(".legend");
    if (legend) legend.textContent = "";
    var offset = 25;
    var palette = L.palette || ["#1f5fa8"];
    rows.forEach(function (r, i) {
      var length = valueOf(r.count, minCell) / total * 100;
      var color = palette[i % palette.length];
      svg.appendChild(el("circle", { cx: 21, cy: 21, r: radius, fill: "transparent", stroke: color, "stroke-width": 6,
        "stroke-dasharray": length.toFixed(3) + " " + (100 - length).toFixed(3), "stroke-dashoffset": offset.toFixed(3) }, null, true));
      offset = ((offset - length) % 100 + 100) % 100;
      if (legend) {
        var li = el("li");
        li.appendChild(el("span", { "class": "swatch", style: "background: " + color }));
        li.appendChild(document.createTextNode(r.label + ": " + shown(r.count, minCell) + suffix(r.percent)));
        legend.appendChild(li);
      }
    });
    fillTable(figure, rows, minCell);
  }

  function drawCloud(id, words) {
    var figure = document.getElementById(id);
    if (!figure) return;
    var list = figure.querySelector(".cloud-words");
    var items = (words || []).slice(0, 50).filter(function (w) { return typeof w.count === "number"; });
    list.textContent = "";
    if (!items.length) return;
    var roots = items.map(function (w) { return Math.sqrt(w.count); });
    var top = Math.max.apply(null, roots), low = Math.min.apply(null, roots), span = (top - low) || 1;
    items.map(function (w) {
      return { term: String(w.term), count: w.count, size: Math.round((0.9 + (Math.sqrt(w.count) - low) / span * 1.9) * 100) / 100 };
    }).sort(function (a, b) { return a.term.toLowerCase() < b.term.toLowerCase() ? -1 : a.term.toLowerCase() > b.term.toLowerCase() ? 1 : 0; })
      .forEach(function (w) { list.appendChild(el("li", { style: "font-size: " + w.size + "rem", title: w.count }, w.term)); });
  }

  function pick(object, path) {
    return path.split(".").reduce(function (o, k) { return o === null || o === undefined ? undefined : o[k]; }, object);
  }

  function drawFacts(facts) {
    if (!facts || !document.getElementById("facts")) return;
    var minCell = facts.min_cell || 5;
    document.querySelectorAll("[data-fig]").forEach(function (node) {
      var path = node.getAttribute("data-fig");
      var value = pick(facts, path);
      if (value === undefined) return;
      var text = shown(value, minCell);
      if (path === "sessions.covid19.count") text += suffix(pick(facts, "sessions.covid19.percent"));
      if (node.textContent !== text) node.textContent = text;
    });
    var a = facts.attendees || {}, s = facts.sessions || {}, x = facts.exhibitors || {};
    drawDonut("chart-gender", a.by_gender, "gender", minCell);
    drawBars("chart-region", a.by_region, "region", minCell);
    drawBars("chart-stakeholder", a.by_stakeholder_type, "stakeholder", minCell);
    drawDonut("chart-exhibitors", x.by_stakeholder_type, "stakeholder", minCell);
    drawBars("chart-action-line", s.by_action_line, "action_line", minCell);
    drawBars("chart-sdg", s.by_sdg, "sdg", minCell);
    drawBars("chart-pages", (facts.page_views || {}).by_page, "page", minCell, 10);
    drawCloud("chart-cloud", facts.word_cloud);
    var updated = document.getElementById("facts-updated");
    if (updated && facts.updated_at) {
      var when = new Date(facts.updated_at);
      updated.textContent = fill(L.updated, { time: when.toLocaleTimeString(document.documentElement.lang || "en") });
    }
  }

  /* ---- live Q&A ----------------------------------------------------------------------------------------- */
  var live = document.getElementById("live");
  var sessionId = live ? live.getAttribute("data-session") : null;

  function questionNode(id) { return document.getElementById("q-" + id); }

  function setVotes(id, votes) {
    var node = questionNode(id);
    if (!node) return;
    node.setAttribute("data-votes", votes);
    var count = node.querySelector(".q-votes");
    if (count) count.textContent = fill(votes === 1 ? L.vote_one : L.votes, { n: fmt(votes) });
    sortQuestions();
  }

  function sortQuestions() {
    var list = document.getElementById("question-list");
    if (!list) return;
    var items = Array.prototype.slice.call(list.children);
    items.sort(function (a, b) {
      var pa = +a.getAttribute("data-pinned"), pb = +b.getAttribute("data-pinned");
      if (pa !== pb) return pb - pa;
      var va = +a.getAttribute("data-votes"), vb = +b.getAttribute("data-votes");
      if (va !== vb) return vb - va;
      return String(a.getAttribute("data-asked")).localeCompare(String(b.getAttribute("data-asked")));
    });
    items.forEach(function (item) { list.appendChild(item); });
    var empty = document.getElementById("no-questions");
    if (empty) empty.hidden = items.length > 0;
  }

  function upsertQuestion(q, mine) {
    if (!q || !q.question_id) return;
    if (q.text === null || q.text === undefined) { if (!mine) return; }
    var node = questionNode(q.question_id);
    if (!node) {
      var template = document.getElementById("question-template");
      var list = document.getElementById("question-list");
      if (!template || !list) return;
      var holder = document.createElement("div");
      holder.innerHTML = template.innerHTML.split("__ID__").join(encodeURIComponent(q.question_id));
      node = holder.firstElementChild;
      list.appendChild(node);
    }
    var text = node.querySelector(".q-text");
    if (text) text.textContent = q.text === null || q.text === undefined ? L.awaiting : q.text;
    node.querySelectorAll(".visually-hidden").forEach(function (span) { span.textContent = ": " + (q.text || ""); });
    var author = node.querySelector(".q-author");
    if (author) author.textContent = q.anonymous || !q.author_name ? L.anonymous : q.author_name;
    node.setAttribute("data-asked", q.asked_at || "");
    setPinned(q.question_id, !!q.pinned);
    setAnswered(q.question_id, !!q.answered);
    setVotes(q.question_id, q.votes || 0);
    if (q.status && q.status !== "visible") {
      var form = node.querySelector("form");
      if (form) form.remove();
    }
  }

  function setPinned(id, pinned) {
    var node = questionNode(id);
    if (!node) return;
    node.setAttribute("data-pinned", pinned ? "1" : "0");
    node.classList.toggle("pinned", pinned);
    var badge = node.querySelector(".q-pinned");
    if (badge) badge.hidden = !pinned;
    sortQuestions();
  }

  function setAnswered(id, answered) {
    var node = questionNode(id);
    if (!node) return;
    node.classList.toggle("answered", answered);
    var badge = node.querySelector(".q-answered");
    if (badge) badge.hidden = !answered;
  }

  function removeQuestion(id) {
    var node = questionNode(id);
    if (node) node.remove();
    sortQuestions();
  }

  function setViewers(n) {
    var node = document.getElementById("viewer-count");
    if (!node) return;
    node.setAttribute("data-count", n);
    node.textContent = fill(L.viewers, { n: fmt(n) });
  }

  function joinSession() {
    if (!live || live.getAttribute("data-signed-in") !== "1" || live.getAttribute("data-status") !== "live") return;
    var base = "/api/sessions/" + encodeURIComponent(sessionId);
    api("POST", base + "/join").then(function (joined) {
      if (joined && /^https?:\/\//i.test(joined.stream_url || "")) {
        var holder = document.getElementById("stream-link");
        if (holder) { holder.querySelector("a").href = joined.stream_url; holder.hidden = false; }
      }
      var every = Math.max((joined && joined.heartbeat_seconds) || 20, 5) * 1000;
      window.setInterval(function () { api("POST", base + "/heartbeat").catch(function () {}); }, every);
      window.addEventListener("pagehide", function () {
        fetch(base + "/leave", { method: "POST", keepalive: true, credentials: "same-origin",
          headers: { "X-CSRF-Token": cookie("plenary_csrf") } }).catch(function () {});
      });
    }).catch(function (problem) { announce(problem && problem.detail); });
  }

  /* ---- messages, notifications -------------------------------------------------------------------------- */
  function appendMessage(m) {
    var list = document.getElementById("message-list");
    if (!list || !m || document.getElementById("m-" + (m.id || m.message_id))) return;
    if ((m.conversation_id || "") !== list.getAttribute("data-conversation")) return;
    var empty = document.getElementById("no-messages");
    if (empty) empty.remove();
    var author = m.author ? m.author.name : m.author_name;
    var li = el("li", { "class": "message" + ((m.author && m.author.id || m.author_id) === document.body.getAttribute("data-user") ? " mine" : ""),
      id: "m-" + (m.id || m.message_id) });
    var meta = el("p", { "class": "meta" });
    meta.appendChild(el("strong", {}, author || ""));
    meta.appendChild(document.createTextNode(" · " + new Date(m.sent_at).toLocaleTimeString(document.documentElement.lang || "en")));
    li.appendChild(meta);
    li.appendChild(el("p", {}, m.text));
    list.appendChild(li);
  }

  function setUnread(n) {
    var badge = document.getElementById("unread-badge");
    if (!badge) return;
    badge.setAttribute("data-count", n);
    badge.textContent = n > 0 ? fill(L.unread, { n: fmt(n) }) : "";
  }

  function loadUnread() {
    if (!document.getElementById("unread-badge")) return;
    api("GET", "/api/notifications/inbox/unread-count").then(function (r) { if (r) setUnread(r.unread); }).catch(function () {});
  }

  /* ---- the live connection ------------------------------------------------------------------------------ */
  var handlers = {
    "facts": function (payload) { drawFacts(payload.data); },
    "org.plenary.sessions.question.asked.v1": function (e) { if (e.data.session_id === sessionId) upsertQuestion(e.data, false); },
    "org.plenary.sessions.question.approved.v1": function (e) { if (e.data.session_id === sessionId) upsertQuestion(e.data, true); },
    "org.plenary.sessions.question.upvoted.v1": function (e) { if (e.data.session_id === sessionId) setVotes(e.data.question_id, e.data.votes); },
    "org.plenary.sessions.question.pinned.v1": function (e) { if (e.data.session_id === sessionId) setPinned(e.data.question_id, e.data.pinned); },
    "org.plenary.sessions.question.answered.v1": function (e) {
      if (e.data.session_id !== sessionId) return;
      setAnswered(e.data.question_id, e.data.answered);
      if (e.data.answered) announce(L.question_answered);
    },
    "org.plenary.sessions.question.hidden.v1": function (e) { if (e.data.session_id === sessionId) removeQuestion(e.data.question_id); },
    "org.plenary.sessions.question.withdrawn.v1": function (e) { if (e.data.session_id === sessionId) removeQuestion(e.data.question_id); },
    "org.plenary.sessions.viewers.counted.v1": function (e) { if (e.data.session_id === sessionId) setViewers(e.data.viewers); },
    "org.plenary.notifications.notification.delivered.v1": function (e) {
      var badge = document.getElementById("unread-badge");
      if (badge) setUnread((+badge.getAttribute("data-count") || 0) + 1);
      announce(e.data.title);
    },
    "org.plenary.networking.message.sent.v1": function (e) { appendMessage(e.data); },
    "reset": function () { loadUnread(); }
  };

  function connect() {
    var channels = document.body.getAttribute("data-channels");
    if (!channels || !window.EventSource) return;
    var source = new EventSource("/api/live?channels=" + encodeURIComponent(channels));
    Object.keys(handlers).forEach(function (type) {
      source.addEventListener(type, function (message) {
        var payload = null;
        try { payload = JSON.parse(message.data); } catch (e) { return; }
        handlers[type](payload);
      });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  loadUnread();
  joinSession();
  connect();
})();
