/* The staff pages' script (progressive enhancement; every form works without it).
 *
 * Moderation panel (#moderation-questions): the question list follows the session live. It listens to the
 * session's channel on /api/live and, when a question is asked, approved, voted on, pinned, answered, hidden or
 * withdrawn, reloads the list from the server (one request however many events arrive together). The moderation
 * buttons are sent with fetch (X-Plenary-Fetch), so the page stays where it is; a refused action shows the
 * service's sentence next to the buttons. The viewer count (#viewer-count) follows too.
 *
 * It opens its own EventSource for the session channel: app.js keeps the person's own channel.
 */
(function () {
  "use strict";

  var box = document.getElementById("moderation-questions");
  if (!box) return;
  var sessionId = box.getAttribute("data-session");
  var source = box.getAttribute("data-source");
  var timer = null;
  var loading = false;
  var again = false;

  function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(source, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var focused = document.activeElement && box.contains(document.activeElement)
          ? focusKey(document.activeElement) : null;
        box.innerHTML = html;
        if (focused) restoreFocus(focused);
      })
      .catch(function () {})
      .then(function () {
        loading = false;
        if (again) { again = false; refresh(); }
      });
  }

  function soon() {
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }

  function focusKey(el) {
    var item = el.closest("[data-question]");
    return item ? { question: item.getAttribute("data-question"), value: el.value || "" } : null;
  }

  function restoreFocus(key) {
    var item = box.querySelector('[data-question="' + key.question + '"]');
    if (!item) return;
    var target = item.querySelector('button[value="' + key.value + '"]') || item.querySelector("button");
    if (target) target.focus();
  }

  function genericError() {  // the site's "that did not work" sentence, in the page's language (app.js labels)
    try { return JSON.parse(document.getElementById("js-labels").textContent).error || "Error"; }
    catch (e) { return "Error"; }
  }

  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  box.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-staff-action")) return;
    event.preventDefault();
    var button = event.submitter;
    var body = new URLSearchParams(new FormData(form));
    if (button && button.name) body.set(button.name, button.value);
    var error = form.querySelector("[data-action-error]");
    if (error) { error.hidden = true; error.textContent = ""; }
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(form.getAttribute("action"), {  // not form.action: the buttons named "action" shadow it
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-Plenary-Fetch": "1", "X-CSRF-Token": cookie("plenary_csrf") }
    }).then(function (response) {
      if (response.ok) { refresh(); return; }
      var plain = (response.headers.get("Content-Type") || "").indexOf("text/plain") === 0;
      return response.text().then(function (text) {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        if (error) { error.textContent = plain ? text : genericError(); error.hidden = false; }
      });
    }).catch(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });

  if (!window.EventSource) return;
  var live = new EventSource("/api/live?channels=" + encodeURIComponent("session:" + sessionId));
  ["asked", "approved", "upvoted", "pinned", "answered", "hidden", "withdrawn"].forEach(function (what) {
    live.addEventListener("org.plenary.sessions.question." + what + ".v1", soon);
  });
  live.addEventListener("reset", soon);
  live.addEventListener("org.plenary.sessions.viewers.counted.v1", function (message) {
    var count = document.getElementById("viewer-count");
    try {
      var data = JSON.parse(message.data).data;
      if (count && data && typeof data.viewers === "number") count.textContent = data.viewers.toLocaleString(document.documentElement.lang);
    } catch (e) { /* ignore a malformed event */ }
  });
  window.addEventListener("pagehide", function () { live.close(); });
})();
