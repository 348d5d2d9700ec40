// Comparison pages. The form: a live count of the grid's configurations. A job: poll the API's JSON status
// (session-authenticated) for the progress bar and reload once the job has ended, so the server renders the
// results; then draw the cost-vs-latency scatter and sort the ranked table client-side on a header click.
(function () {
  "use strict";

  const TERMINAL = ["succeeded", "failed", "cancelled"];

  function cssVar(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }

  // --- The form -------------------------------------------------------------------------------------------

  function gridSize(form) {
    const picked = (name) => form.querySelectorAll(`[name="${name}"] option:checked, input[name="${name}"]:checked`).length;
    const hardware = form.querySelector('select[name="hardware"]');
    let hardwareCount = picked("hardware");
    if (hardware && hardware.querySelector('option[value="*"]:checked')) {
      hardwareCount = Array.from(hardware.options).filter((o) => o.value !== "*" && !/not in the catalog\)$/.test(o.text)).length;
    }
    return picked("models") * hardwareCount * picked("precisions") * picked("frameworks")
      * picked("tensor_parallel") * picked("batch_sizes");
  }

  function bindForm(form) {
    const line = document.getElementById("grid-size");
    const update = () => {
      const size = gridSize(form);
      line.textContent = `${size.toLocaleString("en")} configuration${size === 1 ? "" : "s"}`;
      form.dataset.size = String(size);
    };
    form.addEventListener("change", update);
    update();
  }

  // --- A job: progress ------------------------------------------------------------------------------------

  function pollStatus(panel) {
    const url = panel.dataset.statusUrl;
    const fill = document.getElementById("progress-fill");
    const bar = document.getElementById("progress");
    const text = document.getElementById("progress-text");
    const label = document.getElementById("status-label");
    let delay = 500;

    async function tick() {
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error(`status ${response.status}`);
        const job = await response.json();
        const percent = Math.round(job.progress * 1000) / 10;
        fill.style.width = `${percent}%`;
        bar.setAttribute("aria-valuenow", String(Math.round(percent)));
        text.textContent = `${job.configurations_evaluated.toLocaleString("en")} of ${job.configurations_total.toLocaleString("en")} configurations evaluated (${Math.round(percent)}%)`
          + (job.chunks ? ` in ${job.chunks.done} of ${job.chunks.total} chunks.` : ".");
        label.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
        label.className = `badge badge-job-${job.status}`;
        panel.dataset.status = job.status;
        if (TERMINAL.includes(job.status)) {
          const cancel = document.getElementById("cancel-form");
          if (cancel) cancel.remove();
          text.textContent += " Loading the results…";
          window.location.reload();
          return;
        }
        delay = Math.min(delay * 1.3, 3000);
      } catch (error) {
        text.textContent = `Could not read the status (${error.message}); retrying.`;
        delay = 5000;
      }
      setTimeout(tick, delay);
    }
    setTimeout(tick, delay);
  }

  // --- A job: chart -----------------------------------------------------------------------------------------

  function drawChart() {
    const canvas = document.getElementById("pareto-chart");
    const dataNode = document.getElementById("pareto-data");
    if (!canvas || !dataNode || typeof Chart === "undefined") return;
    const points = JSON.parse(dataNode.textContent);
    const pareto = points.filter((p) => p.pareto).sort((a, b) => a.x - b.x);
    const feasible = points.filter((p) => !p.pareto && p.feasible);
    const infeasible = points.filter((p) => !p.pareto && !p.feasible);
    const accent = cssVar("--accent", "#1d4ed8");
    const pointColor = cssVar("--chart-pareto", "#dc2626");
    const set = (label, data, color, extra) => Object.assign({
      label: label, data: data, borderColor: color, backgroundColor: color, pointRadius: 4, pointHoverRadius: 6,
    }, extra || {});
    new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          set("Pareto front", pareto, pointColor, { pointRadius: 6, pointStyle: "rectRot", order: 0 }),
          set("Feasible", feasible, accent + "99", { order: 1 }),
          set("Infeasible", infeasible, "#9ca3afaa", { pointStyle: "crossRot", pointRadius: 5, order: 2 }),
        ].filter((d) => d.data.length),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 14 } },
          tooltip: {
            callbacks: {
              label: (ctx) => `${ctx.raw.label}: TPOT ${ctx.raw.x.toFixed(2)} ms, $${ctx.raw.y.toPrecision(3)} / 1M output tok`,
            },
          },
        },
        scales: {
          x: { type: "logarithmic", title: { display: true, text: "Time per output token (ms)" } },
          y: { type: "logarithmic", title: { display: true, text: "Cost per 1M output tokens ($)" } },
        },
      },
    });
    canvas.dataset.points = String(points.length);
    canvas.dataset.pareto = String(pareto.length);
  }

  // --- A job: client-side sort ------------------------------------------------------------------------------

  function bindSort(table) {
    const body = table.tBodies[0];
    table.querySelectorAll("thead .sort").forEach((control) => {
      control.addEventListener("click", (event) => {
        event.preventDefault();
        const th = control.closest("th");
        const key = th.dataset.key;
        const descending = th.getAttribute("aria-sort") === "ascending";
        const numeric = th.classList.contains("num");
        const cellValue = (row) => row.querySelector(`td[data-col="${key}"]`).dataset.value;
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = cellValue(a), y = cellValue(b);
          if (x === "" || y === "") return (x === "") - (y === "");  // empty last, either direction
          const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return descending ? -order : order;
        });
        rows.forEach((row) => body.appendChild(row));
        table.querySelectorAll("thead th").forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        const url = new URL(window.location.href);
        if (control.tagName === "A") url.searchParams.set("ordering", (descending ? "-" : "") + key);
        else url.searchParams.delete("ordering");
        history.replaceState(null, "", url);
      });
    });
  }

  const form = document.getElementById("comparison-form");
  if (form) bindForm(form);
  const panel = document.getElementById("job-status");
  if (panel && !TERMINAL.includes(panel.dataset.status)) pollStatus(panel);
  drawChart();
  const table = document.getElementById("results-table");
  if (table) bindSort(table);
})();
