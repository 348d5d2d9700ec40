// The calibration scatter: predicted against measured, log-log, one colour per metric (the team
// calibration filled, the shipped one hollow) and the y = x line. Data from the page (json_script).
(function () {
  "use strict";
  const canvas = document.getElementById("calibration-chart");
  const node = document.getElementById("calibration-data");
  if (!canvas || !node || typeof Chart === "undefined") return;
  const points = JSON.parse(node.textContent);
  const palette = ["#2563eb", "#16a34a", "#b45309", "#7c3aed", "#db2777", "#0891b2", "#4b5563", "#dc2626"];
  const metrics = [...new Set(points.map((p) => p.metric))].sort();
  const datasets = [];
  metrics.forEach((metric, i) => {
    const colour = palette[i % palette.length];
    const mine = points.filter((p) => p.metric === metric);
    datasets.push({
      label: metric + " (team)",
      data: mine.filter((p) => p.team).map((p) => ({ x: p.measured, y: p.team, line: p.line })),
      borderColor: colour,
      backgroundColor: colour,
      pointRadius: 4,
    });
    datasets.push({
      label: metric + " (shipped)",
      data: mine.filter((p) => p.shipped).map((p) => ({ x: p.measured, y: p.shipped, line: p.line })),
      borderColor: colour,
      backgroundColor: "transparent",
      pointRadius: 4,
      hidden: false,
    });
  });
  const values = points.flatMap((p) => [p.measured, p.team, p.shipped]).filter((v) => v > 0);
  const low = Math.min(...values) / 1.5;
  const high = Math.max(...values) * 1.5;
  datasets.push({
    label: "predicted = measured",
    data: [{ x: low, y: low }, { x: high, y: high }],
    borderColor: "#111827",
    borderDash: [6, 4],
    pointRadius: 0,
    showLine: true,
  });
  const decade = (v) => (Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? Number(v).toLocaleString() : "");
  new Chart(canvas, {
    type: "scatter",
    data: { datasets: datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        x: { type: "logarithmic", min: low, max: high, title: { display: true, text: "measured" }, ticks: { callback: decade } },
        y: { type: "logarithmic", min: low, max: high, title: { display: true, text: "predicted" }, ticks: { callback: decade } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (ctx) =>
              ctx.dataset.label + (ctx.raw.line ? " line " + ctx.raw.line : "") + ": measured " +
              Number(ctx.raw.x).toPrecision(4) + ", predicted " + Number(ctx.raw.y).toPrecision(4),
          },
        },
      },
    },
  });
  canvas.setAttribute("data-rendered", String(datasets.reduce((n, d) => n + d.data.length, 0)));
})();
