/**
 * The dashboard's one page (served at `/` by dashboard.ts): plain HTML, CSS and JavaScript, no build step, nothing
 * loaded from elsewhere. It polls the JSON API every two seconds and renders its sections; each section is one entry
 * of `sections` in the script (a read of the API and a renderer), so a new listing is one more entry. Actions (retry,
 * cancel) send the token as `Authorization: Bearer <token>`; the page takes it from the URL fragment (`#token=...`,
 * never sent to the server) or asks for it.
 */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>heimdall dashboard</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ed; --bg: #f6f7fa; --ok: #1f8a4c; --bad: #c0392b; --accent: #2f5fd0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; gap: 16px; align-items: center; padding: 10px 20px; background: #1d2330; color: #fff; }
  header h1 { font-size: 16px; margin: 0; font-weight: 600; }
  header .muted { color: #aeb5c6; }
  header .spacer { flex: 1; }
  header input { font: inherit; padding: 3px 6px; border-radius: 4px; border: 1px solid #50596d; background: #2a3142; color: #fff; width: 220px; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; padding: 16px 20px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; overflow: auto; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 14px; margin: 0 0 8px; display: flex; gap: 8px; align-items: baseline; }
  h2 .muted { font-weight: normal; }
  .muted { color: var(--muted); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.wrap { white-space: normal; }
  td.err { white-space: normal; max-width: 420px; color: var(--bad); font-family: ui-monospace, monospace; font-size: 12px; word-break: break-word; }
  tr.total td { font-weight: 600; }
  a.id { color: var(--accent); cursor: pointer; font-family: ui-monospace, monospace; font-size: 12px; }
  button { font: inherit; font-size: 12px; padding: 2px 10px; border-radius: 4px; border: 1px solid var(--accent); background: #fff; color: var(--accent); cursor: pointer; }
  button.danger { border-color: var(--bad); color: var(--bad); }
  button:disabled { opacity: .5; cursor: default; }
  .state { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #eef0f5; }
  .state.succeeded { background: #dff3e6; color: var(--ok); }
  .state.failed, .state.dead { background: #fbe3e0; color: var(--bad); }
  .state.running { background: #e2eafc; color: var(--accent); }
  #message { padding: 0 20px; min-height: 0; }
  #message div { margin-top: 10px; padding: 8px 12px; border-radius: 6px; background: #fbe3e0; color: var(--bad); }
  #message div.ok { background: #dff3e6; color: var(--ok); }
  pre { margin: 0; white-space: pre-wrap; word-break: break-word; font-size: 12px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
  dt { color: var(--muted); }
  dd { margin: 0; font-family: ui-monospace, monospace; font-size: 12px; word-break: break-word; }
  .legend span { margin-right: 12px; font-size: 12px; }
  .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
</style>
</head>
<body>
<header>
  <h1>heimdall</h1>
  <span class="muted" id="queue"></span>
  <span class="spacer"></span>
  <span class="muted" id="updated">connecting...</span>
  <label id="token-box" hidden><span class="muted">token</span> <input id="token" type="password" autocomplete="off" placeholder="actions token"></label>
</header>
<div id="message"></div>
<main id="sections"></main>
<script>
"use strict";
var state = { config: null, token: "", detailId: null, messages: 0 };

function esc(value) {
  return String(value === undefined || value === null ? "" : value)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
function ago(ms) {
  if (ms === undefined || ms === null) return "";
  ms = Math.max(0, ms);
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  var rest;
  if (ms < 3600000) {
    rest = Math.round((ms % 60000) / 1000);
    return Math.floor(ms / 60000) + " min" + (rest === 0 ? "" : " " + rest + " s");
  }
  rest = Math.round((ms % 3600000) / 60000);
  return Math.floor(ms / 3600000) + " h" + (rest === 0 ? "" : " " + rest + " min");
}
function time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : ""; }
function stateBadge(s) { return '<span class="state ' + esc(s) + '">' + esc(s) + "</span>"; }
function idLink(id) { return '<a class="id" data-detail="' + esc(id) + '">' + esc(id) + "</a>"; }
/** A task's error or reason for the page: the message of an encoded error, else its text. */
function errorText(raw) {
  if (raw === undefined || raw === null) return "";
  try {
    var v = JSON.parse(raw);
    if (v && typeof v === "object") {
      var tag = v._tag ? v._tag + ": " : "";
      if (typeof v.message === "string" && v.message !== "") return tag + v.message;
      return raw;
    }
    return String(v);
  } catch (e) { return raw; }
}

function api(path, init) {
  return fetch(path, init).then(function (response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      if (!response.ok) {
        var error = new Error(body.message || ("HTTP " + response.status));
        error.status = response.status;
        throw error;
      }
      return body;
    });
  });
}

function say(text, ok) {
  var box = document.getElementById("message");
  var id = ++state.messages;
  box.innerHTML = '<div class="' + (ok ? "ok" : "") + '" role="status">' + esc(text) + "</div>";
  setTimeout(function () { if (state.messages === id) box.innerHTML = ""; }, 8000);
}

function table(headers, rows, empty) {
  if (rows.length === 0) return '<p class="muted">' + esc(empty) + "</p>";
  var head = headers.map(function (h) { return "<th" + (h.num ? ' class="num"' : "") + ">" + esc(h.label || h) + "</th>"; }).join("");
  return "<table><thead><tr>" + head + "</tr></thead><tbody>" + rows.join("") + "</tbody></table>";
}
function num(h) { return { label: h, num: true }; }

// ---- the sections: each reads the API (load) and renders what it read (render); order is the page's order ----

var stateColumns = ["queued", "scheduled", "running", "succeeded", "failed", "dead", "skipped", "cancelled"];

var queues = {
  id: "queues", title: "Queue", wide: true,
  load: function () { return api("/api/counts"); },
  render: function (c) {
    var names = Object.keys(c.byName).sort();
    var cols = stateColumns.filter(function (s) { return c.total[s] !== undefined; });
    var byName = c.oldestByName || {};
    // a name's oldest waiting task: its age (the id in data-id), or "?" past the counts' scan (what is known: title)
    var waited = function (w) {
      if (w === undefined) return '<td class="num" data-field="oldest"></td>';
      if (w._tag === "Found") {
        return '<td class="num" data-field="oldest" data-id="' + esc(w.id) + '" title="' + esc(w.id) + '">' +
          esc(ago(w.millis)) + "</td>";
      }
      var known = "behind " + w.scanned + "+ in line" +
        (w.lastMillis === undefined ? "" : "; the last task read has waited " + ago(w.lastMillis));
      return '<td class="num" data-field="oldest" data-beyond="' + w.scanned + '" title="' + esc(known) + '">?</td>';
    };
    var row = function (label, counts, w, cls) {
      return '<tr class="' + (cls || "") + '"' + (cls ? "" : ' data-name="' + esc(label) + '"') + "><td>" + esc(label) + "</td>" +
        cols.map(function (s) { return '<td class="num" data-state="' + s + '">' + esc(counts[s]) + "</td>"; }).join("") +
        waited(w) + "</tr>";
    };
    var rows = names.map(function (n) { return row(n, c.byName[n], byName[n]); });
    var all = c.oldestWaiting === undefined ? undefined
      : { _tag: "Found", id: c.oldestWaiting.id, millis: c.oldestWaitingMillis };
    rows.push(row("all tasks", c.total, all, "total"));
    var oldest = c.oldestWaitingMillis === undefined ? "nothing waits" : "oldest waiting " + ago(c.oldestWaitingMillis);
    return { note: oldest + "; succeeded, failed, dead, skipped are totals; waiting: queued, or scheduled and due",
      html: table(["task"].concat(cols.map(num)).concat([num("oldest waiting")]), rows, "no tasks yet") };
  }
};

var throughput = {
  id: "throughput", title: "Throughput", wide: true,
  load: function () { return api("/api/history"); },
  render: function (h) {
    return { note: "tasks finished per minute, from the counts sampled every " + (h.sampleEveryMillis / 1000) + " s",
      html: '<div class="legend"><span><i class="swatch" style="background:#1f8a4c"></i>succeeded</span>' +
        '<span><i class="swatch" style="background:#c0392b"></i>failed or dead</span></div>' +
        '<canvas id="chart" width="1200" height="180" style="width:100%;height:180px"></canvas>',
      after: function () { drawChart(document.getElementById("chart"), h.samples); } };
  }
};

function drawChart(canvas, samples) {
  var ctx = canvas.getContext("2d");
  var w = canvas.width, h = canvas.height, left = 50, bottom = 22, top = 8;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#6b7385";
  var rates = [];
  for (var i = 1; i < samples.length; i++) {
    var a = samples[i - 1], b = samples[i], minutes = (b.at - a.at) / 60000;
    if (minutes <= 0) continue;
    rates.push({ at: b.at, ok: Math.max(0, b.succeeded - a.succeeded) / minutes,
      bad: Math.max(0, b.failed + b.dead - a.failed - a.dead) / minutes });
  }
  if (rates.length === 0) { ctx.fillText("collecting samples...", left, h / 2); return; }
  var max = 1;
  rates.forEach(function (r) { max = Math.max(max, r.ok, r.bad); });
  var from = rates[0].at, to = rates[rates.length - 1].at, span = Math.max(1, to - from);
  var x = function (at) { return left + (w - left - 10) * (at - from) / span; };
  var y = function (v) { return top + (h - top - bottom) * (1 - v / max); };
  ctx.strokeStyle = "#e3e6ed";
  ctx.beginPath(); ctx.moveTo(left, y(0)); ctx.lineTo(w - 10, y(0)); ctx.moveTo(left, y(max)); ctx.lineTo(w - 10, y(max)); ctx.stroke();
  ctx.fillText(max.toFixed(max < 10 ? 1 : 0) + "/min", 2, y(max) + 4);
  ctx.fillText("0", 2, y(0) + 4);
  ctx.fillText("-" + ago(to - from), left, h - 4);
  ctx.fillText("now", w - 40, h - 4);
  [["ok", "#1f8a4c"], ["bad", "#c0392b"]].forEach(function (line) {
    ctx.strokeStyle = line[1]; ctx.lineWidth = 2; ctx.beginPath();
    rates.forEach(function (r, i) { var px = x(r.at), py = y(r[line[0]]); if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py); });
    ctx.stroke();
  });
}

function actionButton(action, id, label, cls) {
  if (!state.config || !state.config.actions) return "";
  return '<button class="' + (cls || "") + '" data-action="' + action + '" data-id="' + esc(id) + '">' + esc(label) + "</button>";
}

var problems = {
  id: "problems", title: "Failed and dead", wide: true,
  load: function () {
    return Promise.all([api("/api/tasks?state=failed&limit=25"), api("/api/tasks?state=dead&limit=25")]);
  },
  render: function (pages) {
    var tasks = pages[0].tasks.concat(pages[1].tasks).sort(function (a, b) { return b.at - a.at; });
    var rows = tasks.map(function (t) {
      var text = errorText(t.error);
      return '<tr data-task="' + esc(t.id) + '"><td>' + idLink(t.id) + "</td><td>" + esc(t.name) + "</td><td>" + stateBadge(t.state) +
        "</td><td>" + esc(time(t.at)) + '</td><td class="num">' + esc(t.attempts) + '</td><td class="err" title="' + esc(t.error) + '">' +
        esc(text.length > 300 ? text.slice(0, 299) + "..." : text) + "</td><td>" + actionButton("retry", t.id, "Retry") + "</td></tr>";
    });
    var more = pages[0].cursor || pages[1].cursor ? "; the newest 25 of each shown" : "";
    return { note: tasks.length + " listed" + more,
      html: table(["id", "task", "state", "finished", num("tries"), "error", ""], rows, "no failed or dead tasks") };
  }
};

var running = {
  id: "running", title: "Running",
  load: function () { return api("/api/tasks?state=running&limit=50"); },
  render: function (page) {
    var now = Date.now();
    var rows = page.tasks.map(function (t) {
      return '<tr data-task="' + esc(t.id) + '"><td>' + idLink(t.id) + "</td><td>" + esc(t.name) + '</td><td class="num">' + esc(t.attempts) +
        "</td><td>" + esc(ago(t.at - now)) + "</td><td>" + actionButton("cancel", t.id, "Cancel", "danger") + "</td></tr>";
    });
    return { note: page.tasks.length + (page.cursor ? "+" : "") + " running",
      html: table(["id", "task", num("try"), "lease ends in", ""], rows, "nothing runs") };
  }
};

var workers = {
  id: "workers", title: "Workers",
  load: function () { return api("/api/workers"); },
  render: function (list) {
    var now = Date.now();
    var rows = list.map(function (w) {
      return "<tr><td>" + esc(w.id) + "</td><td>" + esc(w.host) + '</td><td class="num">' + esc(w.pid) + '</td><td class="num">' +
        esc(w.running.length + "/" + w.concurrency) + "</td><td>" + esc(ago(now - w.lastBeatAt)) + " ago</td>" + '<td class="wrap">' + esc(w.names.join(", ")) + "</td></tr>";
    });
    return { note: list.length + " live", html: table(["worker", "host", num("pid"), num("busy"), "beat", "tasks"], rows, "no live workers") };
  }
};

var locks = {
  id: "locks", title: "Locks",
  load: function () { return api("/api/locks"); },
  render: function (list) {
    var rows = list.map(function (l) {
      return "<tr><td>" + esc(l.key) + "</td><td>" + esc(l.holder) + "</td><td>" + esc(ago(l.expiresInMillis)) + '</td><td class="num">' + esc(l.fence) + "</td></tr>";
    });
    return { note: list.length + " held", html: table(["key", "holder", "expires in", num("fence")], rows, "no locks held") };
  }
};

var limits = {
  id: "limits", title: "Rate limits and concurrency", wide: true,
  load: function () { return api("/api/limits"); },
  render: function (l) {
    var now = Date.now();
    var rate = l.rate.map(function (r) {
      var known = r.limits.length === 0 ? "?" : r.limits.map(function (x) { return x.times + " per " + ago(x.perMillis); }).join(", ");
      var next = r.nextFreeAt === undefined ? "?" : r.nextFreeAt <= now ? "now" : "in " + ago(r.nextFreeAt - now);
      return '<tr data-rate="' + esc(r.key) + '"><td>' + esc(r.key) + '</td><td class="num" data-field="window">' + esc(ago(r.windowMillis)) +
        '</td><td class="num" data-field="admitted">' + esc(r.admitted) + '</td><td class="num" data-field="booked">' + esc(r.booked) +
        '</td><td data-field="limit">' + esc(known) + '</td><td data-field="next">' + esc(next) + "</td></tr>";
    });
    var slots = l.concurrency.map(function (c) {
      var holders = c.holders.map(function (h) { return h.holder + " (ends in " + ago(h.expiresInMillis) + ")"; }).join(", ");
      return '<tr data-slot="' + esc(c.key) + '"><td>' + esc(c.key) + '</td><td class="num" data-field="held">' +
        esc(c.holders.length + "/" + (c.limit === undefined ? "?" : c.limit)) + '</td><td class="wrap" data-field="holders">' + esc(holders) + "</td></tr>";
    });
    return { note: l.rate.length + " rate limits in use, " + l.concurrency.length + " concurrency limits held" +
        "; ? = the limit is not known to the dashboard's process",
      html: table(["rate limit", num("window"), num("admitted"), num("booked"), "limit", "next free"], rate, "no rate limits in use") +
        table(["concurrency limit", num("held"), "holders (lease ends)"], slots, "no concurrency limits held") };
  }
};

var detail = {
  id: "detail", title: "Task", wide: true,
  load: function () { return state.detailId === null ? Promise.resolve(null) : api("/api/tasks/" + encodeURIComponent(state.detailId)); },
  render: function (d) {
    if (d === null) return { note: "click a task's id", html: "" };
    var r = d.record;
    var fields = [["id", r.id], ["name", r.name], ["state", r.state], ["attempts", r.attempts], ["enqueued", time(r.enqueuedAt)],
      ["started", time(r.startedAt)], ["finished", time(r.finishedAt)], ["worker", r.worker], ["payload", r.payload],
      ["result", r.result], ["error", errorText(r.error)], ["last error", errorText(r.lastError)], ["reason", r.reason]];
    var html = "<dl>" + fields.filter(function (f) { return f[1] !== undefined && f[1] !== ""; }).map(function (f) {
      return "<dt>" + esc(f[0]) + '</dt><dd data-field="' + esc(f[0]) + '">' + (f[0] === "state" ? stateBadge(f[1]) : esc(f[1])) + "</dd>";
    }).join("") + "</dl>";
    return { note: r.id, html: html };
  }
};

// The page's sections, in order. A new read of the API is one more entry here.
var sections = [queues, throughput, problems, detail, running, workers, locks, limits];

function layout() {
  document.getElementById("sections").innerHTML = sections.map(function (s) {
    return '<section id="' + s.id + '"' + (s.wide ? ' class="wide"' : "") + '><h2>' + esc(s.title) +
      ' <span class="muted note"></span></h2><div class="body"></div></section>';
  }).join("");
}

function renderSection(s) {
  return s.load().then(function (data) {
    var out = s.render(data);
    var el = document.getElementById(s.id);
    el.querySelector(".note").textContent = out.note || "";
    el.querySelector(".body").innerHTML = out.html;
    if (out.after) out.after();
  });
}

var refreshing = false;
function refresh() {
  if (refreshing) return Promise.resolve();
  refreshing = true;
  return Promise.all(sections.map(function (s) {
    return renderSection(s).then(function () { return null; }, function (e) { return s.title + ": " + e.message; });
  })).then(function (errors) {
    refreshing = false;
    var failed = errors.filter(function (e) { return e !== null; });
    document.getElementById("updated").textContent = failed.length === 0 ? "updated " + new Date().toLocaleTimeString() : failed.join("; ");
  });
}

function act(action, id, button) {
  if (state.token === "") {
    document.getElementById("token").focus();
    say("enter the actions token (the dashboard printed it when it started) to " + action + " a task");
    return;
  }
  button.disabled = true;
  api("/api/tasks/" + encodeURIComponent(id) + "/" + action, { method: "POST", headers: { Authorization: "Bearer " + state.token } })
    .then(function () {
      say(action + " " + id + ": done", true);
      state.detailId = id;
    }, function (e) { say(action + " " + id + " failed: " + e.message); button.disabled = false; })
    .then(refresh);
}

document.addEventListener("click", function (event) {
  var target = event.target;
  if (!(target instanceof HTMLElement)) return;
  if (target.dataset.action) act(target.dataset.action, target.dataset.id, target);
  else if (target.dataset.detail) { state.detailId = target.dataset.detail; refresh(); }
});

function start() {
  var fromUrl = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (fromUrl) {
    state.token = decodeURIComponent(fromUrl[1]);
    sessionStorage.setItem("heimdall-token", state.token);
    history.replaceState(null, "", location.pathname + location.search);
  } else {
    state.token = sessionStorage.getItem("heimdall-token") || "";
  }
  var input = document.getElementById("token");
  input.value = state.token;
  input.addEventListener("change", function () { state.token = input.value.trim(); sessionStorage.setItem("heimdall-token", state.token); });
  return api("/api/config").then(function (config) {
    state.config = config;
    document.getElementById("queue").textContent = "queue " + config.queue + (config.actions ? " - actions on" : " - read-only");
    document.getElementById("token-box").hidden = !config.actions;
    document.title = "heimdall: " + config.queue;
    layout();
    return refresh();
  }).then(function () { setInterval(refresh, 2000); }, function (e) {
    document.getElementById("updated").textContent = "cannot reach the dashboard's API: " + e.message;
    setTimeout(start, 2000);
  });
}
start();
</script>
</body>
</html>
`
