// Draws each <figure class="chart"> from the table of figures inside it, with the vendored
// Chart.js (static/vendor/chartjs, MIT). The table stays the source and stays on the page
// (under "The figures as a table"); the canvas has the chart's one-sentence summary as its
// name, and the arrow keys walk it month by month, the readout announcing each month's
// figures (aria-live), so neither a mouse nor sight is needed to read it.
// Chart.js sets sizes through the CSSOM (element.style), which the Content-Security-Policy
// (style-src 'self') does not govern; it injects no <style> element or style attribute.
(function () {
  "use strict";

  // Distinct at a glance and each at least 3:1 against white (WCAG 1.4.11, non-text).
  var COLOURS = ["#4f46e5", "#0e7490", "#be185d", "#15803d", "#b45309", "#6d28d9", "#475569"];

  function readTable(table) {
    var names = Array.prototype.slice.call(table.querySelectorAll("thead th")).slice(1)
      .map(function (th) { return th.textContent.trim(); });
    var labels = [];
    var values = names.map(function () { return []; });
    var texts = names.map(function () { return []; });
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      labels.push(row.querySelector("th").textContent.trim());
      Array.prototype.forEach.call(row.querySelectorAll("td"), function (cell, index) {
        values[index].push(Number(cell.getAttribute("data-value")));
        texts[index].push(cell.textContent.trim());
      });
    });
    return { names: names, labels: labels, values: values, texts: texts };
  }

  function draw(figure) {
    var table = figure.querySelector("table.chart-data");
    var canvas = figure.querySelector("canvas");
    var readout = figure.querySelector(".chart-readout");
    if (!table || !canvas || typeof window.Chart === "undefined") return;
    var data = readTable(table);
    var kind = figure.getAttribute("data-chart") === "line" ? "line" : "bar";
    var stacked = figure.getAttribute("data-stacked") === "true";
    figure.classList.add("chart-ready");
    var chart = new window.Chart(canvas, {
      type: kind,
      data: {
        labels: data.labels,
        datasets: data.names.map(function (name, index) {
          var colour = COLOURS[index % COLOURS.length];
          return { label: name, data: data.values[index], backgroundColor: colour, borderColor: colour,
                   borderWidth: kind === "line" ? 2 : 0, pointRadius: kind === "line" ? 3 : 0,
                   maxBarThickness: 56 };
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: stacked, ticks: { color: "#4f5565" }, grid: { display: false } },
          y: { stacked: stacked, beginAtZero: true, ticks: { color: "#4f5565" } }
        },
        plugins: {
          legend: { display: data.names.length > 1, labels: { color: "#1f2430" } },
          tooltip: {
            callbacks: {
              // the figures as the server formatted them (currency, minor units), not raw numbers
              label: function (item) { return item.dataset.label + ": " + data.texts[item.datasetIndex][item.dataIndex]; }
            }
          }
        }
      }
    });

    var active = -1;
    function describe(index) {
      return data.labels[index] + ": " + data.names.map(function (name, series) {
        return name + " " + data.texts[series][index];
      }).join("; ");
    }
    function focusMonth(index) {
      active = Math.max(0, Math.min(data.labels.length - 1, index));
      var elements = data.names.map(function (_, series) { return { datasetIndex: series, index: active }; });
      chart.setActiveElements(elements);
      chart.tooltip.setActiveElements(elements, { x: 0, y: 0 });
      chart.update();
      if (readout) readout.textContent = describe(active);
    }
    canvas.addEventListener("keydown", function (event) {
      var moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
      if (event.key in moves) {
        focusMonth(active < 0 ? (moves[event.key] > 0 ? 0 : data.labels.length - 1) : active + moves[event.key]);
      } else if (event.key === "Home") {
        focusMonth(0);
      } else if (event.key === "End") {
        focusMonth(data.labels.length - 1);
      } else {
        return;
      }
      event.preventDefault();
    });
    canvas.addEventListener("blur", function () {
      chart.setActiveElements([]);
      chart.tooltip.setActiveElements([], { x: 0, y: 0 });
      chart.update();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart"), draw);
  });
})();
