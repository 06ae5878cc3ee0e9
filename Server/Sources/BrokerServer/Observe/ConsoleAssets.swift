/// The web console's page, script and style sheet, compiled into the binary so the console works offline and with
/// nothing fetched from elsewhere (the page's Content-Security-Policy allows this server only). Plain HTML, CSS and
/// JavaScript, no build step. Every value from the broker reaches the page as text (`textContent`, SVG attributes),
/// never as markup, so a message body cannot inject anything.
enum ConsoleAssets {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Broker console</title>
    <link rel="stylesheet" href="/_broker/console/style.css">
    </head>
    <body>
    <header>
      <h1>Broker console</h1>
      <span id="status" class="status down">connecting…</span>
      <span id="clock" class="muted"></span>
    </header>
    <main>
      <section id="queues-section">
        <h2>Queues</h2>
        <table id="queues">
          <thead><tr><th>Queue</th><th>Account · region</th><th class="num">Visible</th><th class="num">In flight</th>
          <th class="num">Delayed</th><th>Last minutes</th><th>Dead-letter queue</th></tr></thead>
          <tbody></tbody>
        </table>
        <p id="no-queues" class="muted">No queues yet.</p>
        <p id="truncated" class="muted" hidden>Only the first 500 queues are listed.</p>
      </section>
      <section id="detail" hidden>
        <h2><span id="detail-title"></span> <span id="detail-scope" class="muted"></span></h2>
        <div id="detail-counts" class="counts"></div>
        <div id="detail-chart" class="chart"></div>
        <div class="actions">
          <div class="send">
            <textarea id="send-body" rows="3" placeholder="Message body"></textarea>
            <input id="send-group" placeholder="MessageGroupId (FIFO queues)" hidden>
            <button type="button" id="send-button">Send</button>
          </div>
          <button type="button" id="purge-button" class="danger">Purge…</button>
          <button type="button" id="redrive-button" hidden>Redrive to source queues…</button>
        </div>
        <p id="action-result" role="status"></p>
        <p id="task-status" class="muted"></p>
        <h3>Messages <span class="muted">(peeked: no receive count, no visibility change)</span>
          <button type="button" id="refresh-messages">Refresh</button></h3>
        <table id="messages">
          <thead><tr><th>Message id</th><th>State</th><th class="num">Receives</th><th>Sent</th><th>Body</th></tr></thead>
          <tbody></tbody>
        </table>
      </section>
      <section id="topics-section">
        <h2>Topics</h2>
        <p class="muted">Topic → subscription (protocol and filter policy) → endpoint.</p>
        <div id="graph"></div>
      </section>
    </main>
    <dialog id="confirm">
      <p id="confirm-text"></p>
      <div class="menu">
        <button type="button" id="confirm-cancel">Cancel</button>
        <button type="button" id="confirm-ok" class="danger">Confirm</button>
      </div>
    </dialog>
    <script src="/_broker/console/app.js"></script>
    </body>
    </html>
    """#

    static let style = #"""
    :root { --fg: #1d2330; --muted: #6b7385; --line: #dde1ea; --accent: #2f6fdb; --bad: #c4372c; --ok: #1f8a4c;
            --visible: #2f6fdb; --inflight: #e08a1e; --delayed: #8a5cd1; font-family: system-ui, sans-serif; }
    body { margin: 0; color: var(--fg); background: #f6f7fb; }
    header { display: flex; gap: 1rem; align-items: baseline; padding: .6rem 1.2rem; background: #fff;
             border-bottom: 1px solid var(--line); }
    h1 { font-size: 1.15rem; margin: 0; }
    h2 { font-size: 1rem; margin: 0 0 .5rem; }
    h3 { font-size: .9rem; margin: 1rem 0 .4rem; }
    main { padding: 1rem 1.2rem; display: grid; gap: 1rem; }
    section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; font-size: .85rem; }
    th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
    th { color: var(--muted); font-weight: 600; }
    .num { text-align: right; font-variant-numeric: tabular-nums; }
    tbody tr.queue { cursor: pointer; }
    tbody tr.queue:hover, tbody tr.selected { background: #eef3fd; }
    .muted { color: var(--muted); font-size: .85rem; }
    .status { font-size: .8rem; padding: .1rem .5rem; border-radius: 9px; color: #fff; }
    .status.live { background: var(--ok); }
    .status.down { background: var(--bad); }
    .badge { font-size: .7rem; padding: 0 .35rem; margin-left: .3rem; border-radius: 4px; background: #e8ebf2; color: var(--muted); }
    .badge.dead-letter { background: #fbe6e4; color: var(--bad); }
    .counts { display: flex; gap: 1.5rem; font-size: .9rem; margin: .3rem 0; }
    .counts b { font-variant-numeric: tabular-nums; }
    .legend::before { content: ""; display: inline-block; width: .7rem; height: .2rem; margin-right: .3rem;
                      vertical-align: middle; background: var(--visible); }
    .legend.count-inflight::before { background: var(--inflight); }
    .legend.count-delayed::before { background: var(--delayed); }
    .chart svg { width: 100%; max-width: 760px; height: 140px; }
    .actions { display: flex; flex-wrap: wrap; gap: .6rem; align-items: flex-start; margin-top: .5rem; }
    .send { display: flex; gap: .4rem; align-items: flex-start; }
    textarea { width: 22rem; font: .85rem ui-monospace, monospace; }
    input { font-size: .85rem; }
    button { font-size: .85rem; padding: .3rem .7rem; border-radius: 4px; border: 1px solid var(--accent);
             background: var(--accent); color: #fff; cursor: pointer; }
    button.danger { border-color: var(--bad); background: var(--bad); }
    #confirm-cancel, #refresh-messages { background: #fff; color: var(--fg); border-color: var(--line); }
    dialog { border: 1px solid var(--line); border-radius: 6px; max-width: 28rem; }
    dialog .menu { display: flex; justify-content: flex-end; gap: .5rem; }
    #action-result.error { color: var(--bad); }
    td.body { font-family: ui-monospace, monospace; max-width: 36rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    #graph svg { width: 100%; }
    #graph text { font-size: 12px; fill: var(--fg); }
    #graph text.small { font-size: 10.5px; fill: var(--muted); }
    #graph rect { fill: #fff; stroke: #9aa6bf; rx: 5; }
    #graph g.topic rect { fill: #eef3fd; stroke: var(--accent); }
    #graph g.endpoint rect { fill: #f2f9f4; stroke: var(--ok); }
    #graph path { fill: none; stroke: #9aa6bf; stroke-width: 1.3; }
    """#

    static let script = #"""
    "use strict";
    // The console: counts arrive by server-sent events (/_broker/events); everything else is a fetch of the
    // /_broker/ JSON endpoints. The chart's history is kept here, one sample per event, for the last 300 events.
    const HISTORY = 300;
    const SVG = "http://www.w3.org/2000/svg";
    const state = { rows: new Map(), history: new Map(), queues: [], dlqArns: new Set(), selected: null,
                    lastSelectedCounts: "", taskTimer: null };
    const $ = (id) => document.getElementById(id);
    const key = (q) => `${q.account}/${q.region}/${q.name}`;

    function el(tag, className, text) {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined) node.textContent = String(text);
      return node;
    }
    function svg(tag, attributes, text) {
      const node = document.createElementNS(SVG, tag);
      for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
      if (text !== undefined) node.textContent = String(text);
      return node;
    }
    function queuePath(q, action) {
      return `/_broker/queues/${encodeURIComponent(q.account)}/${encodeURIComponent(q.name)}/${action}`;
    }

    // Live counts ---------------------------------------------------------------------------------------------------

    function connect() {
      const source = new EventSource("/_broker/events");
      source.addEventListener("counts", (event) => { setStatus(true); onCounts(JSON.parse(event.data)); });
      source.addEventListener("error", () => setStatus(false));
    }
    function setStatus(live) {
      const status = $("status");
      status.textContent = live ? "live" : "reconnecting…";
      status.className = "status " + (live ? "live" : "down");
    }

    function onCounts(snapshot) {
      state.queues = snapshot.queues;
      const present = new Set();
      for (const q of snapshot.queues) {
        const k = key(q);
        present.add(k);
        let samples = state.history.get(k);
        if (!samples) { samples = []; state.history.set(k, samples); }
        samples.push({ visible: q.visible, inFlight: q.inFlight, delayed: q.delayed });
        if (samples.length > HISTORY) samples.splice(0, samples.length - HISTORY);
      }
      for (const k of [...state.history.keys()]) if (!present.has(k)) state.history.delete(k);
      state.dlqArns = new Set(snapshot.queues.filter((q) => q.deadLetterQueue).map((q) => q.deadLetterQueue.arn));
      $("truncated").hidden = !snapshot.truncated;
      $("no-queues").hidden = snapshot.queues.length > 0;
      $("clock").textContent = "broker time " + new Date(snapshot.time).toLocaleTimeString();
      renderQueues(present);
      if (state.selected) renderDetail();
    }

    function renderQueues(present) {
      const body = $("queues").tBodies[0];
      for (const [k, row] of state.rows) if (!present.has(k)) { row.remove(); state.rows.delete(k); }
      for (const q of state.queues) {
        const k = key(q);
        let row = state.rows.get(k);
        if (!row) {
          row = el("tr", "queue");
          row.dataset.queue = k;
          const name = el("td", "name");
          name.append(el("span", "queue-name", q.name));
          if (q.fifo) name.append(el("span", "badge", "FIFO"));
          row.append(name, el("td", "scope muted", `${q.account} · ${q.region}`), el("td", "num visible"),
                     el("td", "num inflight"), el("td", "num delayed"), el("td", "spark"), el("td", "dlq"));
          row.addEventListener("click", () => select(k));
          state.rows.set(k, row);
        }
        body.append(row);  // keeps the server's order; moving an existing row is cheap
        row.classList.toggle("selected", state.selected === k);
        row.querySelector("td.visible").textContent = q.visible;
        row.querySelector("td.inflight").textContent = q.inFlight;
        row.querySelector("td.delayed").textContent = q.delayed;
        row.querySelector("td.dlq").textContent = q.deadLetterQueue ? q.deadLetterQueue.name : "";
        const name = row.querySelector(".name");
        if (state.dlqArns.has(q.arn) && !name.querySelector(".dead-letter")) name.append(el("span", "badge dead-letter", "DLQ"));
        row.querySelector("td.spark").replaceChildren(chart(state.history.get(k) || [], 120, 26, false));
      }
    }

    // One polyline per count; the sparkline shows the total only.
    function chart(samples, width, height, detailed) {
      const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img" });
      const series = detailed
        ? [["visible", "#2f6fdb"], ["inFlight", "#e08a1e"], ["delayed", "#8a5cd1"]]
        : [["total", "#2f6fdb"]];
      const value = (s, name) => name === "total" ? s.visible + s.inFlight + s.delayed : s[name];
      let top = 1;
      for (const s of samples) for (const [name] of series) top = Math.max(top, value(s, name));
      const pad = detailed ? 14 : 2;
      // A minute wide at first, growing to the whole history, so a page just opened still draws a shape.
      const span = Math.min(HISTORY, Math.max(60, samples.length));
      const step = (width - 2 * pad) / (span - 1);
      const offset = span - samples.length;
      root.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#dde1ea" }));
      if (detailed) root.append(svg("text", { x: pad, y: 10, "font-size": 10, fill: "#6b7385" }, `max ${top}`));
      for (const [name, color] of series) {
        const points = samples.map((s, i) =>
          `${(pad + (offset + i) * step).toFixed(1)},${(height - pad - (value(s, name) / top) * (height - 2 * pad)).toFixed(1)}`);
        if (points.length === 1) points.push(points[0]);
        root.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: color, "stroke-width": detailed ? 2 : 1.5 }));
      }
      root.append(svg("title", {}, samples.length ? `last ${samples.length} samples` : "no samples yet"));
      return root;
    }

    // One queue ------------------------------------------------------------------------------------------------------

    function selectedQueue() { return state.queues.find((q) => key(q) === state.selected); }

    function select(k) {
      state.selected = k;
      state.lastSelectedCounts = "";
      $("detail").hidden = false;
      $("action-result").textContent = "";
      $("task-status").textContent = "";
      for (const [other, row] of state.rows) row.classList.toggle("selected", other === k);
      renderDetail();
      const q = selectedQueue();
      if (q && state.dlqArns.has(q.arn)) showTasks(q);
    }

    function renderDetail() {
      const q = selectedQueue();
      if (!q) { $("detail").hidden = true; state.selected = null; return; }
      $("detail-title").textContent = q.name;
      $("detail-scope").textContent = `${q.account} · ${q.region}`;
      const counts = $("detail-counts");
      counts.replaceChildren();
      for (const [label, value, id] of [["visible", q.visible, "count-visible"], ["in flight", q.inFlight, "count-inflight"],
                                        ["delayed", q.delayed, "count-delayed"]]) {
        const item = el("span", "legend " + id, label + " ");
        const number = el("b", "", value);
        number.id = id;
        item.append(number);
        counts.append(item);
      }
      $("detail-chart").replaceChildren(chart(state.history.get(state.selected) || [], 760, 140, true));
      $("send-group").hidden = !q.fifo;
      $("redrive-button").hidden = !state.dlqArns.has(q.arn);
      const signature = `${q.visible}/${q.inFlight}/${q.delayed}`;
      if (signature !== state.lastSelectedCounts) { state.lastSelectedCounts = signature; loadMessages(); }
    }

    async function loadMessages() {
      const q = selectedQueue();
      if (!q) return;
      const response = await fetch(`${queuePath(q, "messages")}?region=${encodeURIComponent(q.region)}&limit=50`);
      const body = $("messages").tBodies[0];
      if (!response.ok) { body.replaceChildren(); return; }
      const answer = await response.json();
      body.replaceChildren(...answer.messages.map((m) => {
        const row = el("tr", "message");
        row.dataset.messageId = m.messageId;
        const text = el("td", "body", m.body);
        text.title = m.body;
        row.append(el("td", "id", m.messageId), el("td", "state", m.state), el("td", "num", m.receiveCount),
                   el("td", "", new Date(m.sentTimestamp).toLocaleTimeString()), text);
        return row;
      }));
    }

    async function post(q, action, fields) {
      const response = await fetch(queuePath(q, action), {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ region: q.region }, fields || {})),
      });
      let answer = {};
      try { answer = await response.json(); } catch (_) { /* an empty or non-JSON answer */ }
      if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
      return answer;
    }

    function report(text, failed) {
      const result = $("action-result");
      result.textContent = text;
      result.className = failed ? "error" : "";
    }

    function confirmAction(text) {
      const dialog = $("confirm");
      $("confirm-text").textContent = text;
      return new Promise((resolve) => {
        const done = (answer) => {
          $("confirm-ok").onclick = null;
          $("confirm-cancel").onclick = null;
          dialog.close();
          resolve(answer);
        };
        $("confirm-ok").onclick = () => done(true);
        $("confirm-cancel").onclick = () => done(false);
        dialog.oncancel = () => done(false);
        dialog.showModal();
      });
    }

    async function send() {
      const q = selectedQueue();
      if (!q) return;
      const fields = { body: $("send-body").value };
      if (q.fifo) fields.messageGroupId = $("send-group").value || "console";
      try {
        const answer = await post(q, "send", fields);
        report(`Sent ${answer.messageId}.`);
        $("send-body").value = "";
      } catch (error) { report(error.message, true); }
    }

    async function purge() {
      const q = selectedQueue();
      if (!q || !(await confirmAction(`Purge ${q.name}? Every message in it is deleted.`))) return;
      try { await post(q, "purge"); report(`Purged ${q.name}.`); } catch (error) { report(error.message, true); }
    }

    async function redrive() {
      const q = selectedQueue();
      if (!q || !(await confirmAction(`Move every message of ${q.name} back to its source queue?`))) return;
      try {
        await post(q, "redrive");
        report(`Started a message move task out of ${q.name}.`);
        showTasks(q);
      } catch (error) { report(error.message, true); }
    }

    // The newest move task of a dead-letter queue, polled while it runs.
    async function showTasks(q) {
      clearTimeout(state.taskTimer);
      const response = await fetch(`${queuePath(q, "redrive")}?region=${encodeURIComponent(q.region)}`);
      if (!response.ok || state.selected !== key(q)) return;
      const task = (await response.json()).tasks[0];
      $("task-status").textContent = task
        ? `Move task ${task.status}: ${task.moved} of ${task.toMove} moved${task.failureReason ? " — " + task.failureReason : ""}.`
        : "No move task yet.";
      if (task && (task.status === "RUNNING" || task.status === "CANCELLING")) {
        state.taskTimer = setTimeout(() => showTasks(q), 1000);
      }
    }

    // Topics ---------------------------------------------------------------------------------------------------------

    async function loadTopics() {
      try {
        const response = await fetch("/_broker/topics");
        if (response.ok) drawGraph((await response.json()).topics);
      } catch (_) { /* the next poll retries */ }
    }

    function clip(text, length) { return text.length > length ? text.slice(0, length - 1) + "…" : text; }

    function box(className, x, y, width, height, lines, tooltip) {
      const group = svg("g", { class: className });
      group.append(svg("rect", { x, y, width, height }));
      lines.forEach(([text, small], i) =>
        group.append(svg("text", { x: x + 8, y: y + 16 + i * 14, class: small ? "small" : "" }, text)));
      if (tooltip) group.append(svg("title", {}, tooltip));
      return group;
    }

    // Three columns: topics, their subscriptions, and the endpoints they deliver to; one row per subscription.
    function drawGraph(topics) {
      const holder = $("graph");
      if (topics.length === 0) { holder.replaceChildren(el("p", "muted", "No topics yet.")); return; }
      const rowHeight = 50, width = 980, columns = [10, 330, 700], boxWidth = [250, 300, 270];
      const rows = topics.reduce((n, t) => n + Math.max(1, t.subscriptions.length), 0);
      const root = svg("svg", { viewBox: `0 0 ${width} ${rows * rowHeight + 10}`, role: "img" });
      root.append(svg("title", {}, "Topics, subscriptions and endpoints"));
      let row = 0;
      for (const topic of topics) {
        const count = Math.max(1, topic.subscriptions.length);
        const top = 5 + row * rowHeight, span = count * rowHeight - 10;
        const topicY = top + span / 2 - 20;
        const topicBox = box("topic", columns[0], topicY, boxWidth[0], 40,
          [[clip(topic.name, 34)], [`${topic.account} · ${topic.region}`, true]], topic.arn);
        topicBox.dataset.topic = topic.name;
        topic.subscriptions.forEach((s, i) => {
          const y = 5 + (row + i) * rowHeight;
          const policy = s.filterPolicy === null ? "no filter policy" : JSON.stringify(s.filterPolicy);
          const label = `${s.protocol}${s.rawMessageDelivery ? " · raw" : ""}${s.pendingConfirmation ? " · pending" : ""}`;
          const stats = s.statistics ? ` · ${s.statistics.delivered} delivered, ${s.statistics.filteredOut} filtered` : "";
          const subscription = box("subscription", columns[1], y, boxWidth[1], 40,
            [[label + stats], [clip(policy, 46), true]], `${s.arn}\n${policy}`);
          subscription.dataset.endpoint = s.endpoint;
          const endpointName = s.protocol === "sqs" ? s.endpoint.split(":").pop() : s.endpoint;
          const endpoint = box("endpoint", columns[2], y, boxWidth[2], 40,
            [[clip(endpointName, 36)], [s.protocol === "sqs" ? "queue" : s.protocol, true]], s.endpoint);
          const from = [columns[0] + boxWidth[0], topicY + 20], mid = [columns[1], y + 20];
          root.append(svg("path", { d: `M${from[0]},${from[1]} C${from[0] + 40},${from[1]} ${mid[0] - 40},${mid[1]} ${mid[0]},${mid[1]}` }));
          root.append(svg("path", { d: `M${columns[1] + boxWidth[1]},${y + 20} L${columns[2]},${y + 20}` }));
          root.append(subscription, endpoint);
        });
        root.append(topicBox);
        row += count;
      }
      holder.replaceChildren(root);
    }

    // Start ----------------------------------------------------------------------------------------------------------

    $("send-button").addEventListener("click", send);
    $("purge-button").addEventListener("click", purge);
    $("redrive-button").addEventListener("click", redrive);
    $("refresh-messages").addEventListener("click", loadMessages);
    connect();
    loadTopics();
    setInterval(loadTopics, 5000);
    """#
}
