// The break-even chart: monthly cost against requests per day, log-log, one line per option (hosted APIs
// solid, rent and buy dashed) and the crossovers as points. Data from the page (json_script), no requests.
(function () {
  "use strict";
  const canvas = document.getElementById("breakeven-chart");
  const node = document.getElementById("breakeven-data");
  if (!canvas || !node || typeof Chart === "undefined") return;
  const data = JSON.parse(node.textContent);
  const palette = ["#2563eb", "#16a34a", "#b45309", "#7c3aed", "#db2777", "#0891b2", "#4b5563"];
  const datasets = data.lines.map((line, i) => ({
    label: line.label,
    data: line.points,
    borderColor: palette[i % palette.length],
    backgroundColor: palette[i % palette.length],
    borderDash: line.kind === "api" ? [] : [6, 4],
    pointRadius: 0,
    showLine: true,
    stepped: line.kind === "api" ? false : "before",
  }));
  datasets.push({
    label: "Crossover",
    data: data.crossovers.map((c) => ({ x: c.x, y: c.y, label: c.label })),
    borderColor: "#111827",
    backgroundColor: "#111827",
    pointStyle: "crossRot",
    pointRadius: 7,
    showLine: false,
  });
  const money = (v) => "$" + Number(v).toLocaleString(undefined, { maximumFractionDigits: v < 10 ? 2 : 0 });
  // Log axes label the powers of ten only (Chart.js labels every minor tick, which crowds a phone screen).
  const decade = (format) => (v) => (Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? format(v) : "");
  new Chart(canvas, {
    type: "scatter",
    data: { datasets: datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        x: {
          type: "logarithmic",
          title: { display: true, text: "requests per day" },
          ticks: { callback: decade((v) => Number(v).toLocaleString()) },
        },
        y: {
          type: "logarithmic",
          title: { display: true, text: "$ per month" },
          ticks: { callback: decade(money) },
        },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (ctx) =>
              (ctx.raw.label || ctx.dataset.label) + ": " + money(ctx.raw.y) + " at " +
              Number(ctx.raw.x).toLocaleString(undefined, { maximumFractionDigits: 0 }) + "/day",
          },
        },
      },
    },
  });
  canvas.setAttribute(
    "data-rendered",
    String(datasets.reduce((n, d) => n + d.data.length, 0))
  );
})();
