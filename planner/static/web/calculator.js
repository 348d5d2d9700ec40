// Calculator page: re-estimate as inputs change without losing focus. The server renders everything; this
// script fetches the same page for the new query, swaps the regions marked data-swap, copies the option
// states (disabled with the engine's reason) into the selects, keeps the URL shareable and draws the chart.
(function () {
  "use strict";

  const form = document.getElementById("calculator-form");
  if (!form) return;
  const statusLine = document.getElementById("live-status");
  let chart = null;
  let timer = null;
  let inFlight = null;
  let sequence = 0;

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Log-axis labels at 1, 2 and 5 per decade only: Chart.js also labels the axis maximum (a 7,000 under
  // the 10,000, overlapping it).
  const logTicks = {
    callback: function (value) {
      const mantissa = value / Math.pow(10, Math.floor(Math.log10(value) + 1e-9));
      const shown = [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6);
      return shown ? Number(value).toLocaleString("en-US") : "";
    },
    autoSkip: false,
  };
  // Grid lines only where there is a label, so the 3s, 4s, 6s ... of each decade do not crowd the chart.
  const logGrid = {
    color: (context) => (context.tick && context.tick.label === "" ? "transparent" : "rgba(0, 0, 0, 0.1)"),
  };

  function drawChart() {
    const canvas = document.getElementById("sweep-chart");
    const dataNode = document.getElementById("sweep-data");
    if (chart) {
      chart.destroy();
      chart = null;
    }
    if (!canvas || !dataNode || typeof Chart === "undefined") return;
    const points = JSON.parse(dataNode.textContent);
    const current = JSON.parse(document.getElementById("sweep-current").textContent);
    const radius = points.map((p) => (p.batch_size === current ? 6 : 3));
    const line = (label, key, color, axis, dash) => ({
      label: label,
      data: points.map((p) => p[key]),
      borderColor: color,
      backgroundColor: color,
      borderDash: dash || [],
      yAxisID: axis,
      pointRadius: radius,
      tension: 0.2,
    });
    chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: points.map((p) => String(p.batch_size)),
        datasets: [
          line("TTFT (ms)", "ttft_ms", cssVar("--chart-ttft") || "#b45309", "latency"),
          line("TPOT (ms)", "tpot_ms", cssVar("--chart-tpot") || "#7c3aed", "latency", [6, 4]),
          line("Throughput (tok/s)", "output_tokens_per_s", cssVar("--chart-throughput") || "#0f766e", "throughput"),
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 14 } } },
        scales: {
          x: { title: { display: true, text: "Batch size (concurrent sequences)" } },
          latency: {
            type: "logarithmic",
            position: "left",
            ticks: logTicks,
            grid: logGrid,
            title: { display: true, text: "Latency (ms)" },
          },
          throughput: {
            type: "linear",
            position: "right",
            beginAtZero: true,
            grid: { drawOnChartArea: false },
            title: { display: true, text: "Output tokens/s" },
          },
        },
      },
    });
    canvas.dataset.rendered = String(points.length);
  }

  // Latency vs load of one replica (the sizing's curve), the SLO bounds as flat lines, the operating point.
  let loadChart = null;
  function drawLoadChart() {
    const canvas = document.getElementById("load-chart");
    const dataNode = document.getElementById("load-data");
    if (loadChart) {
      loadChart.destroy();
      loadChart = null;
    }
    if (!canvas || !dataNode || typeof Chart === "undefined") return;
    const data = JSON.parse(dataNode.textContent);
    const curve = data.curve.filter((p) => p.ttft_p99_ms !== null);
    const xs = curve.map((p) => p.requests_per_s);
    const xMax = Math.max.apply(null, xs.concat([data.point.requests_per_s || 0]));
    const ttftColor = cssVar("--chart-ttft") || "#b45309";
    const tpotColor = cssVar("--chart-tpot") || "#7c3aed";
    const series = (label, key, color, dash) => ({
      label: label,
      data: curve.map((p) => ({ x: p.requests_per_s, y: p[key] })),
      borderColor: color,
      backgroundColor: color,
      borderDash: dash || [],
      pointRadius: 2,
      showLine: true,
      tension: 0.2,
    });
    const bound = (label, value, color) => ({
      label: label,
      data: [{ x: 0, y: value }, { x: xMax, y: value }],
      borderColor: color,
      backgroundColor: color,
      borderDash: [2, 3],
      borderWidth: 1.5,
      pointRadius: 0,
      showLine: true,
    });
    const datasets = [
      series("TTFT p99 (ms)", "ttft_p99_ms", ttftColor),
      series("TPOT p50 (ms)", "tpot_ms", tpotColor, [6, 4]),
    ];
    const slo = data.slo || {};
    if (slo.ttft_p99_ms) datasets.push(bound("SLO TTFT p99", slo.ttft_p99_ms, ttftColor));
    if (slo.tpot_p50_ms) datasets.push(bound("SLO TPOT p50", slo.tpot_p50_ms, tpotColor));
    if (slo.tpot_p99_ms) datasets.push(bound("SLO TPOT p99", slo.tpot_p99_ms, tpotColor));
    if (data.point.requests_per_s !== null) {
      datasets.push({
        label: "Operating point",
        data: [
          { x: data.point.requests_per_s, y: data.point.ttft_p99_ms },
          { x: data.point.requests_per_s, y: data.point.tpot_ms },
        ],
        borderColor: "#111827",
        backgroundColor: "#111827",
        pointRadius: 7,
        pointStyle: "rectRot",
        showLine: false,
      });
    }
    loadChart = new Chart(canvas, {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: "bottom", labels: { boxWidth: 14 } } },
        scales: {
          x: { type: "linear", beginAtZero: true, title: { display: true, text: "Requests/s per replica" } },
          y: {
            type: "logarithmic",
            ticks: logTicks,
            grid: logGrid,
            title: { display: true, text: "Latency (ms)" },
          },
        },
      },
    });
    canvas.dataset.rendered = String(curve.length);
  }

  function syncSelects(doc) {
    form.querySelectorAll("select").forEach((select) => {
      const fresh = doc.getElementById(select.id);
      if (!fresh) return;
      Array.from(select.options).forEach((option, i) => {
        const other = fresh.options[i];
        if (!other || other.value !== option.value) return;
        option.disabled = other.disabled;
        option.title = other.title;
        option.textContent = other.textContent;
      });
    });
  }

  function syncFieldStates(doc) {
    form.querySelectorAll(".field").forEach((field) => {
      const fresh = doc.getElementById(field.id);
      if (!fresh) return;
      const invalid = fresh.classList.contains("has-error");
      field.classList.toggle("has-error", invalid);
      const control = field.querySelector("input, select");
      if (control) {
        if (invalid) control.setAttribute("aria-invalid", "true");
        else control.removeAttribute("aria-invalid");
      }
    });
  }

  function swap(doc) {
    document.querySelectorAll("[data-swap]").forEach((node) => {
      const fresh = doc.getElementById(node.id);
      if (fresh) node.replaceWith(document.importNode(fresh, true));
    });
    syncSelects(doc);
    syncFieldStates(doc);
    bindCopy();
    drawChart();
    drawLoadChart();
  }

  function queryString() {
    return new URLSearchParams(new FormData(form)).toString();
  }

  async function refresh() {
    const query = queryString();
    const url = form.action + "?" + query;
    const mine = ++sequence;
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    const results = document.getElementById("results");
    if (results) results.setAttribute("aria-busy", "true");
    statusLine.textContent = "Updating…";
    try {
      const response = await fetch(url, { headers: { "X-Requested-With": "fetch" }, signal: inFlight.signal });
      const html = await response.text();
      if (mine !== sequence) return;
      swap(new DOMParser().parseFromString(html, "text/html"));
      history.replaceState(null, "", url);
      statusLine.textContent = "Updated";
    } catch (error) {
      if (error.name !== "AbortError") statusLine.textContent = "Could not update: " + error.message;
    } finally {
      const latest = document.getElementById("results");
      if (latest && mine === sequence) latest.setAttribute("aria-busy", "false");
      if (mine === sequence && timer === null) document.body.dataset.pending = "0";
    }
  }

  // body[data-pending] is "1" from the first change until the newest estimate is on the page (tests wait on it).
  function schedule(delay) {
    clearTimeout(timer);
    document.body.dataset.pending = "1";
    timer = setTimeout(() => {
      timer = null;
      refresh();
    }, delay);
  }

  function bindCopy() {
    const button = document.getElementById("copy-share");
    const input = document.getElementById("share-url");
    if (!button || !input) return;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch (error) {
        input.select();
        button.textContent = "Press Ctrl+C";
      }
    });
  }

  form.addEventListener("input", (event) => {
    if (event.target.matches("input")) schedule(400);
  });
  form.addEventListener("change", (event) => {
    if (event.target.matches("select")) schedule(0);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    schedule(0);
  });

  bindCopy();
  drawChart();
  drawLoadChart();
})();
