// Live progress of the jobs on the page: every 2 s, each job still running is read again
// from the API (GET /jobs/<id>) and its row updated; a job that ended is read no more.
"use strict";
(function () {
  const ACTIVE = new Set(["PENDING", "STARTED", "PROGRESS", "RETRY"]);
  const root = document.body.dataset.root || "";

  function update(row, job) {
    row.dataset.state = job.state;
    const state = row.querySelector(".job-state .status");
    state.textContent = job.state;
    state.className = "status status-" + job.state.toLowerCase();
    row.querySelector(".job-step").textContent = job.step || "";
    const percent = job.percent === null || job.percent === undefined ? null : job.percent;
    row.querySelector(".job-progress").value = percent || 0;
    row.querySelector(".job-percent").textContent = percent === null ? "" : percent + "%";
    const outcome = row.querySelector(".job-outcome");
    if (job.error) {
      outcome.textContent = job.error;
      outcome.classList.add("error");
    } else if (job.result) {
      outcome.textContent = job.result.status || job.result.reason || "";
    }
  }

  async function poll() {
    const rows = Array.from(document.querySelectorAll("tr[data-job]")).filter(
      (row) => ACTIVE.has(row.dataset.state));
    await Promise.all(rows.map(async (row) => {
      try {
        const answer = await fetch(root + "/jobs/" + encodeURIComponent(row.dataset.job),
                                   {headers: {Accept: "application/json"}});
        if (answer.ok) {
          update(row, await answer.json());
        }
      } catch (error) {
        // The service is restarting or unreachable: the next round tries again.
      }
    }));
    if (rows.length) {
      window.setTimeout(poll, 2000);
    }
  }

  window.setTimeout(poll, 2000);
})();
