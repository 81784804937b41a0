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
  // Focus the error summary so a screen reader announces it.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
});
