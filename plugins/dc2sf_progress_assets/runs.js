/* Run list of the load DAG: newest first, each linking to its progress page. */
(function () {
  "use strict";
  var body = document.body;
  var pluginRoot = body.dataset.pluginRoot;
  var TONES = { success: "ok", failed: "bad", running: "active", queued: "idle" };
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  var fmt = new Intl.NumberFormat();
  function td(label, content, cls) {
    var cell = el("td", { "data-label": label, className: cls || "" });
    if (typeof content === "string") cell.textContent = content; else cell.appendChild(content);
    return cell;
  }
  function when(iso) { return iso ? new Date(iso).toLocaleString() : "–"; }
  function load() {
    fetch(body.dataset.listUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) throw new Error("Your session has expired: reload the page to log in again.");
        if (r.status === 403) throw new Error("You do not have access to this DAG.");
        if (!r.ok) throw new Error("The server answered " + r.status + ".");
        return r.json();
      })
      .then(function (data) {
        var rows = data.runs.map(function (run) {
          return el("tr", { "data-run-id": run.run_id }, [
            td("Run", el("a", { href: pluginRoot + run.url, text: run.run_id })),
            td("State", el("span", { className: "state tone-" + (TONES[run.state] || "idle"), text: run.state || "none" })),
            td("Started", when(run.start_date)),
            td("Ended", when(run.end_date)),
            td("Partitions reporting", fmt.format(run.partitions), "num"),
            td("Processed", fmt.format(run.processed), "num"),
            td("Loaded", fmt.format(run.succeeded), "num"),
            td("Dead-lettered", fmt.format(run.dead_lettered), "num"),
            td("Success rate", run.success_rate == null ? "–" : (run.success_rate * 100).toFixed(2) + "%", "num")
          ]);
        });
        if (!rows.length) rows = [el("tr", {}, [el("td", { colspan: "9", text: "No runs yet." })])];
        var tbody = document.querySelector("#runs tbody");
        tbody.replaceChildren.apply(tbody, rows);
        var active = data.runs.some(function (r) { return r.state === "running" || r.state === "queued"; });
        document.getElementById("status").textContent = "Updated " + new Date().toLocaleTimeString() +
          (active ? " · refreshing every 15 s" : "");
        if (active) setTimeout(load, 15000);
      })
      .catch(function (err) {
        var s = document.getElementById("status");
        s.textContent = err.message; s.className = "error";
      });
  }
  load();
})();
