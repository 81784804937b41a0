// Draws each chart from the Vega-Lite specification the page carries; the tables beside the charts
// hold the same figures and work without this script. Each chart's element says when it is drawn
// (data-rendered="yes") or failed ("failed"), for people's browsers and the browser tests alike.
(function () {
  "use strict";
  // Vega gives each mark's item a description, not every group of marks: a group of described marks
  // is named after what it holds, and a group with nothing to say (a shaded band, the map's land)
  // is hidden from assistive technology, which reads the table beside the chart instead.
  function label(svg, description) {
    if (!svg.getAttribute("aria-label")) { svg.setAttribute("aria-label", description); }
    var unnamed = svg.querySelectorAll("[aria-roledescription]:not([aria-label])");
    Array.prototype.forEach.call(unnamed, function (node) {
      if (node.querySelector("[aria-label]")) {
        node.setAttribute("aria-label", node.getAttribute("aria-roledescription").replace(" container", "s"));
      } else {
        node.removeAttribute("role");
        node.setAttribute("aria-hidden", "true");
      }
    });
  }
  function draw(element) {
    var source = document.getElementById(element.dataset.spec);
    var spec = JSON.parse(source.textContent);
    return vegaEmbed(element, spec, { actions: false, renderer: "svg", ast: true }).then(function (result) {
      var svg = element.querySelector("svg");
      if (svg) { label(svg, spec.description || "chart"); }
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
