/* Partition progress page of one run. No build step, no libraries: the numbers arrive formatted
 * in the report's "display" fields (the same strings the terminal report prints), so this file
 * only lays them out, draws the bars and the chart, and refreshes while the run is active. */
(function () {
  "use strict";
  var body = document.body;
  var reportUrl = body.dataset.reportUrl;
  var pluginRoot = body.dataset.pluginRoot;
  var airflowRoot = body.dataset.airflowRoot;
  var storeKey = "dc2sf:samples:" + body.dataset.dagId + ":" + body.dataset.runId;
  var COLORS = ["#2f6fdc", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#5c940d",
    "#e67700", "#364fc7", "#a61e4d", "#087f5b", "#495057"];
  var timer = null;

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
  function svg(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function localTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString();
  }
  function status(text, isError) {
    var s = document.getElementById("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }
  function badge(state, label, tone) {
    return el("span", { className: "state tone-" + (tone || "idle"), text: label || state,
      "data-state": state });
  }

  function renderSummary(report) {
    var t = report.totals, d = t.display;
    var states = Object.keys(t.states).map(function (k) { return t.states[k] + " " + k.replace(/_/g, " "); });
    var cards = [
      ["Partitions", t.partitions + (states.length ? " (" + states.join(", ") + ")" : ""), "partitions"],
      ["Processed", d.processed, "processed"],
      ["Loaded", d.succeeded, "succeeded"],
      ["Dead-lettered", d.dead_lettered, "dead_lettered",
        "Records that ended failed, in the dead-letter files with their error"],
      ["Failed attempts", d.failed, "failed",
        "Every attempt Salesforce rejected, including attempts of records retried and then loaded"],
      ["Retried", d.retried, "retried"],
      ["API calls", d.api_calls, "api_calls"],
      ["Active Bulk jobs", d.jobs_in_flight + " of " + d.jobs_total, "jobs"],
      ["Success rate", d.success_rate, "success_rate"],
      ["Rate", d.rate, "rate"],
      ["Complete", d.percent_complete + " of " + d.source_count, "percent_complete"],
      ["Projected final", d.projected_succeeded === "–" ? "–" : "~" + d.projected_succeeded + " loaded",
        "projected_succeeded"],
      ["Projected finish", d.projected_finish + (t.eta_seconds ? " (in " + d.eta + ")" : ""), "projected_finish"]
    ];
    var box = document.getElementById("summary");
    box.replaceChildren.apply(box, cards.map(function (c) {
      var attrs = { className: "card", "data-total": c[2] };
      if (c[3]) attrs.title = c[3];
      return el("div", attrs, [
        el("div", { className: "k", text: c[0] }), el("div", { className: "v", text: c[1] })]);
    }));
  }

  function cell(label, content, cls) {
    var td = el("td", { "data-label": label, className: cls || "" });
    if (typeof content === "string") td.textContent = content; else if (content) td.appendChild(content);
    return td;
  }

  function note(text) { return el("div", { className: "note", text: text }); }

  /* What the State cell says under the badge: when a waiting partition starts, when a retry
   * starts, which try this is, and any error. */
  function stateCell(p) {
    var d = p.display;
    var box = el("div", {}, [badge(p.state, p.state_label, p.tone)]);
    if (p.waiting_until) box.appendChild(note("local: " + localTime(p.waiting_until)));
    if (p.state === "up_for_retry") {
      box.appendChild(note("try " + p.try_number + " ended" + (p.retry_at ? "; the next starts in "
        + d.retry_in + " (local " + localTime(p.retry_at) + ")" : "") +
        " and resumes from the checkpoint"));
    } else if (p.try_number > 1) {
      box.appendChild(note("try " + p.try_number + (p.max_tries != null ? " of " + (p.max_tries + 1) : "")));
    }
    if (p.reported === false) box.appendChild(note("this try has not reported progress yet"));
    if (p.error) box.appendChild(note(p.error));
    if (p.job_shape && p.job_shape.fallback) {
      var shape = note("Single-batch jobs (" + p.job_shape.records_per_job.toLocaleString() + " records, " +
        p.job_shape.max_in_flight + " in flight): " + p.job_shape.fallback);
      shape.className += " job-shape";
      box.appendChild(shape);
    }
    return box;
  }

  function progressBar(p) {
    var d = p.display, pct = p.percent_complete;
    var clamp = function (v) { return Math.max(0, Math.min(100, v)); };
    var done = pct == null ? 0 : clamp(pct);
    var parts = [el("span", { style: "width:" + done + "%" })];
    if (p.unsettled && p.source_count) {
      parts.push(el("span", { className: "pending", title: d.unsettled + " pending",
        style: "left:" + done + "%;width:" + clamp(100 * p.unsettled / p.source_count) + "%" }));
    }
    var bar = el("div", { className: "bar" + (p.tone === "ok" ? " ok" : p.tone === "bad" ? " bad" : ""),
      role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": pct == null ? "" : String(pct), "aria-label": p.name + " progress" }, parts);
    return el("div", {}, [bar, el("div", { className: "bar-text",
      text: pct != null ? d.percent_complete + " of " + d.source_count
        : p.reported === false ? "not reported yet" : "no source count" })]);
  }

  function loadedCell(p) {
    var box = el("div", {}, [document.createTextNode(p.display.succeeded)]);
    if (p.unsettled) box.appendChild(el("span", { className: "sub-num",
      title: "sent to Salesforce, outcome not collected yet", text: "+" + p.display.unsettled + " pending" }));
    return box;
  }

  function renderTable(report) {
    var tbody = document.querySelector("#partitions tbody");
    var rows = report.partitions.map(function (p, i) {
      var d = p.display;
      var links = el("div", { className: "links" });
      if (p.log_url) links.appendChild(el("a", { href: airflowRoot + p.log_url, target: "_top", text: "Load log" }));
      if (p.wait_log_url) links.appendChild(el("a", { href: airflowRoot + p.wait_log_url, target: "_top", text: "Sensor log" }));
      if (p.dead_letter_url) links.appendChild(el("a", { href: pluginRoot + p.dead_letter_url,
        text: "Dead letters" + (p.dead_letter_files.length ? " (" + p.dead_letter_files.length + " files)" : "") }));
      var color = COLORS[i % COLORS.length];
      // The name and the key range, once: Airflow's rendered label says the same, so it is the tooltip.
      var name = el("div", { title: p.label }, [
        el("span", { className: "pname" }, [el("i", { style: "display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;background:" + color }),
          document.createTextNode(p.name)]),
        p.range ? el("div", { className: "range", text: p.range }) : null]);
      return el("tr", { "data-map-index": String(p.map_index), "data-state": p.state }, [
        cell("Partition", name),
        cell("State", stateCell(p)),
        cell("Progress", progressBar(p), "bar-cell"),
        cell("Processed", d.processed, "num"),
        cell("Loaded", loadedCell(p), "num"),
        cell("Dead-lettered", d.dead_lettered, "num"),
        cell("Failed attempts", d.failed, "num"),
        cell("Retried", d.retried, "num"),
        cell("API calls", d.api_calls, "num"),
        cell("Bulk jobs", d.jobs_in_flight + " / " + d.jobs_total, "num"),
        cell("Rate", d.rate, "num"),
        cell("ETA", p.state === "success" ? "done" : d.eta, "num"),
        cell("Watermark", p.watermark || "–", "wm"),
        cell("Links", links)
      ]);
    });
    if (!rows.length) {
      rows = [el("tr", {}, [el("td", { colspan: "14", text: report.run.planned ?
        "No partitions." : "No partitions yet: the plan task has not finished." })])];
    }
    tbody.replaceChildren.apply(tbody, rows);
  }

  /* Each partition's dead-letter count becomes the link to its files (found by the cell's label, so
   * the table's layout stays in renderTable). Rows plan dead-lettered (NULL key) belong to no
   * partition: a line of their own, with the link to every dead-letter file of the run. */
  function renderDeadLetters(report) {
    report.partitions.forEach(function (p) {
      var td = document.querySelector('#partitions tr[data-map-index="' + p.map_index + '"] td[data-label="Dead-lettered"]');
      if (!td || !p.dead_letter_url || !p.dead_lettered) return;
      td.replaceChildren(el("a", { className: "dead-letters", href: pluginRoot + p.dead_letter_url,
        title: "View and download this partition's dead letters", text: p.display.dead_lettered }));
    });
    var box = document.getElementById("dead-letters");
    var plan = report.plan_dead_letters;
    var parts = [el("a", { id: "all-dead-letters", href: pluginRoot + report.dead_letters_url,
      text: "All dead letters of this run" })];
    if (plan && plan.rows) {
      parts.push(document.createTextNode(" · Plan: " + plan.display.rows + " rows with a NULL key, in no partition: "));
      parts.push(el("a", { id: "plan-dead-letters", href: pluginRoot + report.dead_letters_url + "/plan",
        text: "view / download" }));
    }
    box.replaceChildren.apply(box, parts);
  }

  function loadSamples() {
    try { return JSON.parse(sessionStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
  }
  function addSamples(report) {
    var samples = loadSamples();
    report.partitions.forEach(function (p) {
      if (!p.started_at || !p.updated_at) return;
      var key = String(p.map_index);
      var list = samples[key] || [];
      var start = Date.parse(p.started_at), at = Date.parse(p.updated_at);
      if (!list.length || list[0][0] !== start) list = [[start, 0]];
      var last = list[list.length - 1];
      if (at > last[0]) list.push([at, p.succeeded]);
      else if (at === last[0]) last[1] = p.succeeded;
      if (list.length > 720) list.splice(1, list.length - 720);
      samples[key] = list;
    });
    try { sessionStorage.setItem(storeKey, JSON.stringify(samples)); } catch (e) { /* full: keep in memory */ }
    return samples;
  }

  function renderChart(report, samples) {
    var chart = document.getElementById("chart");
    var legend = document.getElementById("legend");
    var width = chart.clientWidth || 600, height = chart.clientHeight || 260;
    var pad = { l: 64, r: 12, t: 10, b: 26 };
    chart.setAttribute("viewBox", "0 0 " + width + " " + height);
    var series = report.partitions.map(function (p, i) {
      return { p: p, color: COLORS[i % COLORS.length], points: samples[String(p.map_index)] || [] };
    }).filter(function (s) { return s.points.length; });
    var nodes = [];
    legend.replaceChildren();
    if (!series.length) {
      nodes.push(svg("text", { x: pad.l, y: height / 2 }));
      nodes[0].textContent = "No partition has started loading yet.";
      chart.replaceChildren.apply(chart, nodes);
      return;
    }
    var x0 = Infinity, x1 = -Infinity, y1 = 1;
    series.forEach(function (s) { s.points.forEach(function (pt) {
      x0 = Math.min(x0, pt[0]); x1 = Math.max(x1, pt[0]); y1 = Math.max(y1, pt[1]); }); });
    if (x1 <= x0) x1 = x0 + 1000;
    var sx = function (v) { return pad.l + (v - x0) / (x1 - x0) * (width - pad.l - pad.r); };
    var sy = function (v) { return height - pad.b - v / y1 * (height - pad.t - pad.b); };
    var fmt = new Intl.NumberFormat();
    for (var k = 0; k <= 4; k++) {
      var yv = y1 * k / 4, y = sy(yv);
      nodes.push(svg("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, "class": "axis" }));
      var label = svg("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end" });
      label.textContent = fmt.format(Math.round(yv));
      nodes.push(label);
    }
    [x0, (x0 + x1) / 2, x1].forEach(function (xv, idx) {
      var t = svg("text", { x: sx(xv), y: height - 6, "text-anchor": idx === 0 ? "start" : idx === 2 ? "end" : "middle" });
      t.textContent = new Date(xv).toLocaleTimeString();
      nodes.push(t);
    });
    series.forEach(function (s) {
      var pts = s.points.map(function (pt) { return sx(pt[0]).toFixed(1) + "," + sy(pt[1]).toFixed(1); }).join(" ");
      var line = svg("polyline", { points: pts, fill: "none", stroke: s.color, "stroke-width": 2,
        "data-map-index": String(s.p.map_index) });
      var title = svg("title", {});
      title.textContent = s.p.name + " " + (s.p.range || "") + ": " + s.p.display.succeeded + " loaded";
      line.appendChild(title);
      nodes.push(line);
      legend.appendChild(el("span", {}, [el("i", { style: "background:" + s.color }),
        document.createTextNode(s.p.name + " — " + s.p.display.succeeded)]));
    });
    chart.replaceChildren.apply(chart, nodes);
  }

  var last = null;

  function render(report) {
    last = report;
    var run = report.run;
    var rs = document.getElementById("run-state");
    rs.textContent = run.state || "unknown";
    rs.className = "state tone-" + ({ success: "ok", failed: "bad", running: "active" }[run.state] || "idle");
    renderSummary(report);
    renderTable(report);
    renderDeadLetters(report);
    renderChart(report, addSamples(report));
    var when = new Date(report.generated_at).toLocaleTimeString();
    status(run.active ? "Updated " + when + " · refreshing every " + report.refresh_seconds + " s"
      : "Updated " + when + " · run " + (run.state || "not active") + ", not refreshing");
    body.dataset.generatedAt = report.generated_at;
  }

  function schedule(seconds) {
    clearTimeout(timer);
    timer = setTimeout(refresh, seconds * 1000);
  }

  function refresh() {
    fetch(reportUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) throw new Error("Your session has expired: reload the page to log in again.");
        if (r.status === 403) throw new Error("You do not have access to this DAG.");
        if (r.status === 404) throw new Error("This DAG run does not exist (any more).");
        if (!r.ok) throw new Error("The server answered " + r.status + "; retrying.");
        return r.json();
      })
      .then(function (report) {
        render(report);
        if (report.run.active) schedule(report.refresh_seconds || 5);
      })
      .catch(function (err) {
        status(err.message, true);
        if (/retrying/.test(err.message) || err instanceof TypeError) schedule(10);
      });
  }

  window.addEventListener("resize", function () { if (last) renderChart(last, loadSamples()); });
  refresh();
})();
