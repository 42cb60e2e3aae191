// A run in progress: listens to the server's event stream (no polling) and shows each audit
// entry as it is written. Text goes in with textContent only, never as HTML.
"use strict";
(function () {
  const root = document.getElementById("live");
  if (!root) return;
  const body = document.getElementById("live-entries");
  const status = document.getElementById("live-status");
  const count = document.getElementById("live-count");
  const queries = document.getElementById("live-queries");
  const last = document.getElementById("live-last");
  const done = document.getElementById("live-done");
  const MAX_ROWS = 500;
  let n = 0;
  let spent = 0;

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function costText(cost) {
    if (!cost) return "";
    return Object.keys(cost).filter((k) => cost[k]).map((k) => k + " " + cost[k]).join(", ");
  }

  function add(entry) {
    const row = document.createElement("tr");
    cell(row, entry.seq).className = "num";
    cell(row, (entry.time || "").slice(11, 19));
    cell(row, entry.actor);
    cell(row, entry.action);
    cell(row, entry.target);
    cell(row, entry.experiment);
    cell(row, costText(entry.cost));
    body.insertBefore(row, body.firstChild);
    while (body.childElementCount > MAX_ROWS) body.removeChild(body.lastChild);
    n += 1;
    if (entry.cost && typeof entry.cost.queries === "number") spent += entry.cost.queries;
    count.textContent = String(n);
    queries.textContent = spent.toLocaleString("en");
    last.textContent = entry.action || "";
  }

  const source = new EventSource(root.dataset.events);
  source.addEventListener("open", function () {
    status.textContent = "Live: new audit entries appear as the run writes them.";
  });
  source.addEventListener("entry", function (event) {
    add(JSON.parse(event.data));
  });
  source.addEventListener("done", function () {
    source.close();
    status.textContent = "Finished.";
    done.hidden = false;
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      status.textContent = "The stream closed; reload the page to reconnect.";
    } else {
      status.textContent = "Reconnecting…";
    }
  });
})();
