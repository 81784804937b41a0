// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A form marked data-once is sent once: a second click does nothing while the first is on its way.
  // (The server refuses a second publication anyway; this spares the person a confusing page.)
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    });
  });
  // The progress of a publication, polled once a second until it is done; then the page reloads
  // to show the results.
  var progress = document.getElementById("progress");
  if (progress && progress.dataset.state === "publishing") {
    var bar = document.getElementById("progress-bar");
    var poll = function () {
      fetch(progress.dataset.progress, {credentials: "same-origin"}).then(function (r) { return r.json(); })
        .then(function (p) {
          bar.max = p.total; bar.value = p.done;
          if (p.state === "done") { window.location.reload(); } else { window.setTimeout(poll, 1000); }
        }).catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }
  // The watch list follows the registry live: each status change arrives as a server-sent event
  // and updates its row in place; without the script the page shows the state when it was loaded.
  var watch = document.getElementById("watch-list");
  if (watch && window.EventSource) {
    var live = document.getElementById("watch-live");
    var source = new EventSource(watch.dataset.events);
    source.addEventListener("status", function (event) {
      var s = JSON.parse(event.data);
      var row = watch.querySelector('tr[data-credential="' + CSS.escape(s.credential_id) + '"]');
      if (!row) { return; }
      var before = row.querySelector('[data-field="status"]').textContent;
      row.querySelector('[data-field="status"]').textContent = s.status;
      var word = row.querySelector('[data-field="verdict-word"]');
      word.textContent = s.verdict;
      word.className = s.verified === true ? "yes" : (s.verified === false ? "no" : "");
      row.querySelector('[data-field="reasons"]').textContent = s.reasons;
      row.querySelector('[data-field="observed_at"]').textContent = s.observed_at;
      if (before !== s.status) {
        row.classList.add("changed");
        live.textContent = watch.dataset.changed.replace("{credential_id}", s.credential_id).replace("{status}", s.status);
      }
    });
  }
  // Focus the error summary so a screen reader announces it.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
});
