// Draws each chart from the Vega-Lite specification the page carries; the tables beside the charts
// hold the same figures and work without this script. Each chart's element says when it is drawn
// (data-rendered="yes") or failed ("failed"), for people's browsers and the browser tests alike.
(function () {
  "use strict";
  function draw(element) {
    var source = document.getElementById(element.dataset.spec);
    var spec = JSON.parse(source.textContent);
    return vegaEmbed(element, spec, { actions: false, renderer: "svg" }).then(function (result) {
      var svg = element.querySelector("svg");
      if (svg) {
        svg.setAttribute("role", "img");
        svg.setAttribute("aria-label", spec.description || "chart");
      }
      element.dataset.rendered = "yes";
      return result;
    }).catch(function (error) {
      element.dataset.rendered = "failed";
      var note = document.createElement("p");
      note.className = "chart-failed";
      note.textContent = "This chart could not be drawn; the table beside it has its figures.";
      element.appendChild(note);
      if (window.console) { window.console.error(error); }
    });
  }
  function start() {
    var charts = document.querySelectorAll("[data-spec]");
    Array.prototype.forEach.call(charts, draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
