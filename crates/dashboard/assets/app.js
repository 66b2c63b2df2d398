// The Tomoe dashboard. Plain JavaScript without a build step, served by `tomoe up`.
// It reads the vehicle through the platform's public APIs only:
//   VISS (WebSocket): live values, the signal tree (metadata) and history;
//   SOVD (HTTP, same origin, /sovd/v1): workloads, logs, faults and OTA updates.
// Every text from the APIs goes into the page through textContent or attributes,
// never through the HTML parser.
"use strict";

// ---------------------------------------------------------------------------
// Small DOM helpers.

const SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, String(value));
  }
}

function byId(id) {
  return document.getElementById(id);
}

function setBadge(id, text, kind) {
  const badge = byId(id);
  badge.textContent = text;
  badge.className = "badge badge-" + kind;
}

function formatNumber(value, digits) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  return value.toFixed(digits);
}

function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A VISS value is a string ("42.5", "true") or an array of them; numbers become numbers.
// VISS 3.1 writes this inline for a signal without a value.
const NOT_AVAILABLE = "viss-inline:Data-not-available";

function parseValue(value) {
  if (value === NOT_AVAILABLE) return null;
  if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) {
    return Number(value);
  }
  return value;
}

function parseTime(ts) {
  if (typeof ts === "number") return ts;
  const time = Date.parse(ts);
  return Number.isNaN(time) ? Date.now() : time;
}

// ---------------------------------------------------------------------------
// Configuration and access token.

const state = {
  config: { viss_url: null, viss_protocols: [], token_required: false, sovd_base: "/sovd/v1" },
  token: sessionStorage.getItem("tomoe-token") || "",
};

function authHeaders() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

// ---------------------------------------------------------------------------
// VISS: the message shapes live in `Viss.messages` and `Viss.parse`; the client
// keeps one WebSocket, matches responses to requests by requestId, routes
// notifications by subscriptionId, reconnects and subscribes again.

const Viss = {
  messages: {
    get: (path) => ({ action: "get", path }),
    history: (path, period) => ({ action: "get", path, filter: { type: "history", parameter: period } }),
    metadata: (path) => ({ action: "get", path, filter: { type: "metadata", parameter: "0" } }),
    subscribe: (path, periodMs) =>
      ({ action: "subscribe", path, filter: { type: "timebased", parameter: { period: String(periodMs) } } }),
    unsubscribe: (subscriptionId) => ({ action: "unsubscribe", subscriptionId }),
  },
  parse: {
    // [{path, value, ts}] from a get response or a subscription notification:
    // data is one {path, dp} or a list of them; dp is one {value, ts} or a list.
    datapoints(message) {
      const out = [];
      const data = message.data;
      for (const item of Array.isArray(data) ? data : data ? [data] : []) {
        const dps = Array.isArray(item.dp) ? item.dp : item.dp ? [item.dp] : [];
        for (const dp of dps) out.push({ path: item.path, value: parseValue(dp.value), ts: parseTime(dp.ts) });
      }
      return out;
    },
    // The VSS tree of a metadata response: {"Vehicle": {type, children, ...}}.
    metadata(message) {
      return message.metadata || (message.data && message.data.metadata) || null;
    },
    error(message) {
      const e = message.error;
      if (!e) return null;
      const detail = e.description || e.message;
      return (e.number || "") + " " + (e.reason || "") + (detail ? ": " + detail : "");
    },
  },
};

class VissClient {
  constructor(url, protocols, onStatus) {
    this.url = url;
    this.protocols = protocols || [];
    this.onStatus = onStatus;
    this.nextId = 1;
    this.pending = new Map(); // requestId -> {resolve, reject, timer}
    this.subscriptions = new Map(); // local key -> {path, periodMs, callback, id}
    this.byServerId = new Map(); // subscriptionId -> local key
    this.socket = null;
    this.open = false;
    this.retryMs = 1000;
  }

  connect() {
    if (!this.url) {
      this.onStatus("off");
      return;
    }
    let socket;
    try {
      socket = this.protocols.length ? new WebSocket(this.url, this.protocols) : new WebSocket(this.url);
    } catch (error) {
      this.onStatus("down");
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.open = true;
      this.retryMs = 1000;
      this.onStatus("up");
      for (const key of this.subscriptions.keys()) this.resubscribe(key);
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      const wasOpen = this.open;
      this.open = false;
      this.socket = null;
      this.byServerId.clear();
      for (const [, request] of this.pending) request.reject(new Error("VISS connection closed"));
      this.pending.clear();
      this.onStatus(wasOpen ? "lost" : "down");
      this.retry();
    });
  }

  retry() {
    setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10000);
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    // A token missing, invalid or expired refuses every request alike: say so.
    if (message.error && String(message.error.number) === "401") this.onStatus("refused");
    if (message.action === "subscription" && message.requestId === undefined) {
      const key = this.byServerId.get(String(message.subscriptionId));
      const subscription = key && this.subscriptions.get(key);
      if (subscription) {
        for (const dp of Viss.parse.datapoints(message)) subscription.callback(dp);
      }
      return;
    }
    const request = this.pending.get(String(message.requestId));
    if (!request) return;
    this.pending.delete(String(message.requestId));
    clearTimeout(request.timer);
    const error = Viss.parse.error(message);
    if (error) request.reject(new Error(error));
    else request.resolve(message);
  }

  request(message) {
    if (!this.open) return Promise.reject(new Error("VISS is not connected"));
    const requestId = String(this.nextId++);
    const full = Object.assign({}, message, { requestId });
    if (state.token) full.authorization = state.token;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error("VISS did not answer"));
      }, 10000);
      this.pending.set(requestId, { resolve, reject, timer });
      this.socket.send(JSON.stringify(full));
    });
  }

  async get(path) {
    return Viss.parse.datapoints(await this.request(Viss.messages.get(path)));
  }

  async history(path, period) {
    return Viss.parse.datapoints(await this.request(Viss.messages.history(path, period)));
  }

  async metadata(path) {
    return Viss.parse.metadata(await this.request(Viss.messages.metadata(path)));
  }

  // Calls callback({path, value, ts}) for each notification until unsubscribed;
  // survives reconnections. Returns a key for unsubscribe().
  subscribe(path, periodMs, callback) {
    const key = "s" + this.nextId++;
    this.subscriptions.set(key, { path, periodMs, callback, id: null });
    if (this.open) this.resubscribe(key);
    return key;
  }

  resubscribe(key) {
    const subscription = this.subscriptions.get(key);
    this.request(Viss.messages.subscribe(subscription.path, subscription.periodMs))
      .then((response) => {
        if (!this.subscriptions.has(key)) {
          this.request(Viss.messages.unsubscribe(response.subscriptionId)).catch(() => {});
          return;
        }
        subscription.id = String(response.subscriptionId);
        this.byServerId.set(subscription.id, key);
      })
      .catch((error) => subscription.callback({ path: subscription.path, error: error.message }));
  }

  unsubscribe(key) {
    const subscription = this.subscriptions.get(key);
    this.subscriptions.delete(key);
    if (subscription && subscription.id !== null) {
      this.byServerId.delete(subscription.id);
      this.request(Viss.messages.unsubscribe(subscription.id)).catch(() => {});
    }
  }
}

let viss = null;

// ---------------------------------------------------------------------------
// SOVD over HTTP.

async function sovd(path) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 8000);
  try {
    const response = await fetch(state.config.sovd_base + path, {
      headers: authHeaders(),
      signal: controller.signal,
    });
    if (!response.ok) {
      const error = new Error("SOVD " + path + ": HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

function sovdOk() {
  setBadge("sovd-status", "SOVD: connected", "ok");
}

function sovdFailed(error) {
  const unauthorized = error.status === 401 || error.status === 403;
  setBadge("sovd-status", unauthorized ? "SOVD: token refused" : "SOVD: unavailable", "bad");
}

// ---------------------------------------------------------------------------
// Gauges.

const SIGNALS = {
  speed: "Vehicle.Speed",
  soc: "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
  voltage: "Vehicle.Powertrain.TractionBattery.CurrentVoltage",
  current: "Vehicle.Powertrain.TractionBattery.CurrentCurrent",
  power: "Vehicle.Powertrain.TractionBattery.CurrentPower",
  range: "Vehicle.Tomoe.RangeEstimate",
  mode: "Vehicle.Tomoe.Mode",
};

class Gauge {
  constructor(id, label, unit, min, max, digits) {
    Object.assign(this, { min, max, digits });
    const root = byId(id);
    const sweep = 240;
    const radius = 80;
    const length = (2 * Math.PI * radius * sweep) / 360;
    const arcPath = describeArc(100, 100, radius, -sweep / 2, sweep / 2);
    const drawing = svg("svg", { viewBox: "0 0 200 170", role: "img", "aria-label": label });
    drawing.append(svg("path", { d: arcPath, class: "arc-bg" }));
    this.arc = svg("path", { d: arcPath, class: "arc", "stroke-dasharray": length, "stroke-dashoffset": length });
    drawing.append(this.arc);
    this.length = length;
    this.value = el("span", { class: "value", "data-testid": id + "-value", text: "—" });
    this.sub = el("div", { class: "sub" });
    root.append(
      el("div", { class: "label" }, label),
      drawing,
      el("div", {}, this.value, el("span", { class: "unit" }, unit)),
      this.sub,
    );
  }

  set(value, note) {
    this.value.textContent = formatNumber(value, this.digits);
    const ratio = Number.isFinite(value) ? Math.min(Math.max((Math.abs(value) - 0) / (this.max - this.min), 0), 1) : 0;
    this.arc.setAttribute("stroke-dashoffset", String(this.length * (1 - ratio)));
    this.arc.classList.toggle("negative", Number.isFinite(value) && value < 0);
    this.sub.textContent = note || "";
  }
}

function describeArc(cx, cy, r, startDeg, endDeg) {
  const point = (deg) => {
    const rad = ((deg - 90) * Math.PI) / 180;
    return [cx + r * Math.cos(rad), cy + r * Math.sin(rad)];
  };
  const [x1, y1] = point(startDeg);
  const [x2, y2] = point(endDeg);
  const large = endDeg - startDeg > 180 ? 1 : 0;
  return `M ${x1.toFixed(2)} ${y1.toFixed(2)} A ${r} ${r} 0 ${large} 1 ${x2.toFixed(2)} ${y2.toFixed(2)}`;
}

const gauges = {};
const live = {};

function startGauges() {
  gauges.speed = new Gauge("gauge-speed", "Speed", "km/h", 0, 200, 1);
  gauges.power = new Gauge("gauge-power", "Battery power", "kW", 0, 150, 1);
  gauges.soc = new Gauge("gauge-soc", "State of charge", "%", 0, 100, 1);
  gauges.range = new Gauge("gauge-range", "Range estimate", "km", 0, 500, 0);
  for (const key of ["speed", "soc", "voltage", "current", "power", "range"]) {
    viss.subscribe(SIGNALS[key], 200, (dp) => {
      if (dp.error) {
        live[key + "Error"] = dp.error;
      } else {
        live[key] = typeof dp.value === "number" ? dp.value : NaN;
      }
      showGauges();
    });
  }
}

function showGauges() {
  gauges.speed.set(live.speed);
  gauges.soc.set(live.soc);
  gauges.range.set(live.range, Number.isFinite(live.range) ? "" : "published by the range estimator app");
  if (Number.isFinite(live.power)) {
    gauges.power.set(live.power / 1000, "TractionBattery.CurrentPower");
  } else if (Number.isFinite(live.voltage) && Number.isFinite(live.current)) {
    gauges.power.set((live.voltage * live.current) / 1000, formatNumber(live.voltage, 0) + " V × " + formatNumber(live.current, 1) + " A");
  } else {
    gauges.power.set(NaN);
  }
}

// ---------------------------------------------------------------------------
// The vehicle mode over time: a strip of the last ten minutes.

const MODES = ["OFF", "PARKED", "DRIVING", "CHARGING", "SERVICE"];
const MODE_WINDOW_MS = 10 * 60 * 1000;
const modeChanges = []; // [{ts, mode}] in time order

function startModes() {
  const legend = byId("mode-legend");
  for (const mode of MODES) {
    legend.append(el("span", {}, el("span", { class: "swatch mode-" + mode }), mode.toLowerCase()));
  }
  viss.subscribe(SIGNALS.mode, 500, (dp) => {
    if (dp.error || typeof dp.value !== "string") return;
    recordMode(dp.ts, dp.value);
  });
  setInterval(drawModes, 1000);
}

function recordMode(ts, mode) {
  const last = modeChanges[modeChanges.length - 1];
  if (!last || last.mode !== mode) modeChanges.push({ ts, mode });
  const label = byId("mode-now");
  label.textContent = mode;
  label.className = "mode-label text-" + (MODES.includes(mode) ? mode : "unknown");
  drawModes();
}

async function loadModeHistory() {
  try {
    const points = await viss.history(SIGNALS.mode, "PT10M");
    const known = modeChanges.splice(0);
    for (const dp of points.sort((a, b) => a.ts - b.ts)) {
      if (typeof dp.value === "string") recordMode(dp.ts, dp.value);
    }
    for (const change of known) recordMode(change.ts, change.mode);
  } catch (error) {
    // No history: the strip starts now.
  }
}

function drawModes() {
  const now = Date.now();
  const windowStart = now - MODE_WINDOW_MS;
  while (modeChanges.length > 1 && modeChanges[1].ts < windowStart) modeChanges.shift();
  // The strip spans ten minutes, or the time since the first known mode if shorter.
  const start = modeChanges.length ? Math.max(windowStart, Math.min(modeChanges[0].ts, now - 1000)) : windowStart;
  const span = now - start;
  const strip = svg("svg", { viewBox: "0 0 1000 24", preserveAspectRatio: "none", role: "img", "aria-label": "vehicle mode over time" });
  modeChanges.forEach((change, i) => {
    const from = Math.max(change.ts, start);
    const to = i + 1 < modeChanges.length ? modeChanges[i + 1].ts : now;
    const x = ((from - start) / span) * 1000;
    const width = Math.max(((to - from) / span) * 1000, 1);
    const cls = MODES.includes(change.mode) ? "mode-" + change.mode : "mode-unknown";
    const rect = svg("rect", { x: x.toFixed(1), y: 2, width: width.toFixed(1), height: 20, class: cls });
    const title = svg("title", {});
    title.textContent = change.mode + " from " + new Date(change.ts).toLocaleTimeString();
    rect.append(title);
    strip.append(rect);
  });
  const axis = el(
    "div",
    { class: "axis" },
    el("span", {}, new Date(start).toLocaleTimeString()),
    el("span", {}, "now"),
  );
  byId("mode-timeline").replaceChildren(strip, axis);
}

// ---------------------------------------------------------------------------
// Workloads (SOVD apps), their logs, faults and OTA updates.

let openLog = null;

async function refreshWorkloads() {
  let apps;
  try {
    apps = (await sovd("/apps")).items || [];
    sovdOk();
  } catch (error) {
    sovdFailed(error);
    return;
  }
  const rows = await Promise.all(
    apps.map(async (app) => {
      const read = (id) => sovd("/apps/" + encodeURIComponent(app.id) + "/data/" + id).then((r) => r.data, () => null);
      const [appState, restarts, health] = await Promise.all([read("state"), read("restarts"), read("health")]);
      return { app, appState, restarts, health };
    }),
  );
  const body = byId("workloads");
  body.replaceChildren(
    ...rows.map(({ app, appState, restarts, health }) => {
      const row = el(
        "tr",
        { class: "clickable" + (openLog === app.id ? " selected" : ""), "data-app": app.id, title: "Show the log of " + app.id },
        el("td", {}, app.name || app.id),
        el("td", { class: "state-" + String(appState).toLowerCase() }, formatValue(appState)),
        el("td", {}, formatValue(restarts)),
        el("td", {}, formatValue(health)),
      );
      row.addEventListener("click", () => showLog(app.id));
      return row;
    }),
  );
  byId("workloads-empty").hidden = rows.length > 0;
}

async function showLog(appId) {
  openLog = appId;
  byId("log-panel").hidden = false;
  byId("log-title").textContent = "Log of " + appId;
  for (const row of byId("workloads").children) row.classList.toggle("selected", row.dataset.app === appId);
  await refreshLog();
}

async function refreshLog() {
  if (openLog === null) return;
  const appId = openLog;
  const pre = byId("log");
  try {
    const entries = (await sovd("/apps/" + encodeURIComponent(appId) + "/logs/entries?limit=200")).items || [];
    if (openLog !== appId) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = entries.length
      ? entries.map((e) => (e.timestamp ? e.timestamp + " " : "") + e.severity + " " + e.msg).join("\n")
      : "(no log lines yet)";
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  } catch (error) {
    pre.textContent = "Cannot read the log: " + error.message;
  }
}

async function refreshFaults() {
  let entities;
  try {
    const [components, apps] = await Promise.all([sovd("/components"), sovd("/apps")]);
    entities = [
      ...(components.items || []).map((c) => ["components", c]),
      ...(apps.items || []).map((a) => ["apps", a]),
    ];
  } catch (error) {
    return;
  }
  const lists = await Promise.all(
    entities.map(([collection, entity]) =>
      sovd("/" + collection + "/" + encodeURIComponent(entity.id) + "/faults")
        .then((r) => (r.items || []).map((fault) => ({ entity, fault })), () => []),
    ),
  );
  const faults = lists.flat();
  byId("faults").replaceChildren(
    ...faults.map(({ entity, fault }) =>
      el(
        "tr",
        {},
        el("td", {}, entity.id),
        el("td", {}, fault.display_code || fault.code),
        el("td", {}, fault.fault_name),
        el("td", {}, formatValue(fault.severity)),
      ),
    ),
  );
  byId("faults-empty").hidden = faults.length > 0;
}

async function refreshUpdates() {
  try {
    const agent = await sovd("/components/update-agent/data/status");
    byId("ota-agent").textContent =
      "Update agent: " + (agent.data === null || agent.data === undefined ? "not configured (no --ota-director)" : formatValue(agent.data));
  } catch (error) {
    byId("ota-agent").textContent = "Update agent: unknown";
  }
  let ids;
  try {
    ids = (await sovd("/updates")).items || [];
  } catch (error) {
    return;
  }
  const rows = await Promise.all(
    ids.slice(-10).map(async (id) => {
      const status = await sovd("/updates/" + encodeURIComponent(id) + "/status").catch(() => ({}));
      return el(
        "tr",
        {},
        el("td", {}, id),
        el("td", {}, formatValue(status.status)),
        el("td", {}, formatValue(status.step)),
        el("td", {}, status.progress === undefined ? "—" : status.progress + " %"),
      );
    }),
  );
  byId("updates").replaceChildren(...rows);
}

// ---------------------------------------------------------------------------
// The VSS tree: loaded once from VISS metadata, searched here, its visible
// leaves read every two seconds; the selected signal is subscribed to and charted
// from its history.

const tree = { nodes: [], byPath: new Map(), branch: "Vehicle", query: "", values: new Map(), selected: null, selectedSub: null, series: [] };
const TREE_LIMIT = 60;

function flatten(children, prefix, out) {
  for (const [name, node] of Object.entries(children || {})) {
    const path = prefix ? prefix + "." + name : name;
    const entry = {
      path,
      name,
      type: node.type || "",
      datatype: node.datatype || "",
      unit: node.unit || "",
      description: node.description || "",
      min: node.min,
      max: node.max,
      allowed: node.allowed,
    };
    out.push(entry);
    if (node.children) flatten(node.children, path, out);
  }
  return out;
}

async function loadTree() {
  byId("tree-count").textContent = "loading the signal tree…";
  try {
    const metadata = await viss.metadata("Vehicle");
    tree.nodes = flatten(metadata, "", []);
    tree.byPath = new Map(tree.nodes.map((n) => [n.path, n]));
    renderTree();
  } catch (error) {
    byId("tree-count").textContent = "cannot load the signal tree: " + error.message;
  }
}

function visibleNodes() {
  const query = tree.query.trim().toLowerCase();
  if (query) {
    return tree.nodes.filter((n) => n.path.toLowerCase().includes(query) || n.description.toLowerCase().includes(query));
  }
  const prefix = tree.branch + ".";
  return tree.nodes.filter((n) => n.path.startsWith(prefix) && !n.path.slice(prefix.length).includes("."));
}

function renderTree() {
  const nodes = visibleNodes();
  const shown = nodes.slice(0, TREE_LIMIT);
  byId("tree-count").textContent =
    nodes.length > shown.length ? shown.length + " of " + nodes.length + " shown" : nodes.length + " shown";
  const crumbs = byId("crumbs");
  if (tree.query.trim()) {
    crumbs.replaceChildren(el("span", { class: "muted" }, "search results"));
  } else {
    const parts = tree.branch.split(".");
    crumbs.replaceChildren(
      ...parts.map((part, i) =>
        el("button", { type: "button", onclick: () => browse(parts.slice(0, i + 1).join(".")) }, part),
      ),
    );
  }
  byId("tree").replaceChildren(
    ...shown.map((node) => {
      const isBranch = node.type === "branch";
      const value = el("td", { class: "value", "data-path": node.path }, isBranch ? "" : formatValue(tree.values.get(node.path)));
      const row = el(
        "tr",
        { class: "clickable" + (tree.selected === node.path ? " selected" : ""), "data-testid": "tree-row", "data-path": node.path },
        el("td", { class: "path" }, tree.query.trim() ? node.path : node.name + (isBranch ? " ›" : "")),
        el("td", {}, node.type + (node.datatype ? " " + node.datatype : "")),
        value,
      );
      row.addEventListener("click", () => (isBranch ? browse(node.path) : select(node.path)));
      return row;
    }),
  );
  refreshTreeValues();
}

function browse(path) {
  tree.branch = path;
  tree.query = "";
  byId("search").value = "";
  renderTree();
}

async function refreshTreeValues() {
  if (!viss || !viss.open) return;
  const cells = [...byId("tree").querySelectorAll("td.value[data-path]")].filter((cell) => {
    const node = tree.byPath.get(cell.dataset.path);
    return node && node.type !== "branch";
  });
  await Promise.all(
    cells.map(async (cell) => {
      const path = cell.dataset.path;
      try {
        const points = await viss.get(path);
        const value = points.length ? points[points.length - 1].value : null;
        tree.values.set(path, value);
        cell.textContent = formatValue(value);
      } catch (error) {
        cell.textContent = "—";
      }
    }),
  );
}

async function select(path) {
  const node = tree.byPath.get(path);
  if (!node) return;
  tree.selected = path;
  for (const row of byId("tree").children) row.classList.toggle("selected", row.dataset.path === path);
  if (tree.selectedSub) viss.unsubscribe(tree.selectedSub);
  tree.series = [];
  const current = el("dd", { "data-testid": "signal-value" }, formatValue(tree.values.get(path)));
  const details = el("dl", {});
  const add = (term, value) => {
    if (value === undefined || value === null || value === "") return;
    details.append(el("dt", {}, term), el("dd", {}, formatValue(value)));
  };
  add("type", node.type);
  add("datatype", node.datatype);
  add("unit", node.unit);
  add("description", node.description);
  add("min", node.min);
  add("max", node.max);
  add("allowed", node.allowed);
  details.append(el("dt", {}, "value"), current);
  const chart = el("div", { class: "chart", "data-testid": "chart" });
  const note = el("p", { class: "muted" }, "history: loading…");
  byId("signal").replaceChildren(el("h3", {}, path), details, chart, note);
  try {
    const points = await viss.history(path, "PT10M");
    if (tree.selected !== path) return;
    tree.series = points.filter((p) => typeof p.value === "number").sort((a, b) => a.ts - b.ts);
    note.textContent = "history: last 10 minutes, " + points.length + " values";
  } catch (error) {
    note.textContent = "history: " + error.message;
  }
  drawChart(chart);
  tree.selectedSub = viss.subscribe(path, 500, (dp) => {
    if (tree.selected !== path || dp.error) return;
    current.textContent = formatValue(dp.value);
    if (typeof dp.value === "number") {
      tree.series.push(dp);
      const start = Date.now() - 10 * 60 * 1000;
      while (tree.series.length && tree.series[0].ts < start) tree.series.shift();
      drawChart(chart);
    }
  });
}

function drawChart(container) {
  const points = tree.series;
  const width = 600;
  const height = 180;
  const pad = 28;
  const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": "history chart" });
  if (points.length < 2) {
    const text = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" });
    text.textContent = points.length ? "one value so far" : "no numeric values";
    drawing.append(text);
    container.replaceChildren(drawing);
    return;
  }
  const t0 = points[0].ts;
  const t1 = points[points.length - 1].ts;
  let lo = Math.min(...points.map((p) => p.value));
  let hi = Math.max(...points.map((p) => p.value));
  if (hi === lo) {
    hi += 1;
    lo -= 1;
  }
  const x = (t) => pad + ((t - t0) / Math.max(t1 - t0, 1)) * (width - 2 * pad);
  const y = (v) => height - pad + 10 - ((v - lo) / (hi - lo)) * (height - 2 * pad);
  drawing.append(svg("line", { x1: pad, y1: y(lo), x2: width - pad, y2: y(lo) }));
  drawing.append(svg("line", { x1: pad, y1: y(hi), x2: width - pad, y2: y(hi) }));
  const line = svg("polyline", { points: points.map((p) => x(p.ts).toFixed(1) + "," + y(p.value).toFixed(1)).join(" ") });
  drawing.append(line);
  const labels = [
    [2, y(hi) + 3, formatValue(hi)],
    [2, y(lo) + 3, formatValue(lo)],
    [pad, height - 4, new Date(t0).toLocaleTimeString()],
    [width - pad - 50, height - 4, new Date(t1).toLocaleTimeString()],
  ];
  for (const [lx, ly, content] of labels) {
    const text = svg("text", { x: lx, y: ly });
    text.textContent = content;
    drawing.append(text);
  }
  container.replaceChildren(drawing);
}

// ---------------------------------------------------------------------------
// Start.

function vissStatus(status) {
  const texts = {
    up: ["VISS: connected", "ok"],
    down: ["VISS: unavailable", "bad"],
    lost: ["VISS: connection lost, retrying", "bad"],
    off: ["VISS: not configured", "bad"],
    refused: [state.token ? "VISS: token refused" : "VISS: token needed", "bad"],
  };
  const [text, kind] = texts[status];
  setBadge("viss-status", text, kind);
  if (status === "up") {
    if (!tree.nodes.length) loadTree();
    if (!modeChanges.length) loadModeHistory();
  }
}

function every(ms, task) {
  const run = () => task().catch(() => {});
  run();
  setInterval(run, ms);
}

// A server listening on every interface (0.0.0.0, [::]) is reached at this page's host.
function reachable(url) {
  if (!url) return url;
  try {
    const parsed = new URL(url);
    if (parsed.hostname === "0.0.0.0" || parsed.hostname === "[::]") {
      parsed.hostname = location.hostname;
      return parsed.toString();
    }
  } catch (error) {
    return null;
  }
  return url;
}

async function main() {
  try {
    const response = await fetch("/dashboard/config.json", { cache: "no-store" });
    if (response.ok) Object.assign(state.config, await response.json());
  } catch (error) {
    // The defaults: SOVD on this origin, no VISS.
  }
  if (state.config.token_required) {
    const form = byId("token-form");
    form.hidden = false;
    byId("token").value = state.token;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      state.token = byId("token").value.trim();
      sessionStorage.setItem("tomoe-token", state.token);
      location.reload();
    });
  }
  byId("log-close").addEventListener("click", () => {
    openLog = null;
    byId("log-panel").hidden = true;
    for (const row of byId("workloads").children) row.classList.remove("selected");
  });
  let searchTimer = null;
  byId("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      tree.query = byId("search").value;
      renderTree();
    }, 150);
  });
  viss = new VissClient(reachable(state.config.viss_url), state.config.viss_protocols, vissStatus);
  startGauges();
  startModes();
  viss.connect();
  every(2000, refreshWorkloads);
  every(2000, refreshLog);
  every(5000, refreshFaults);
  every(5000, refreshUpdates);
  every(2000, refreshTreeValues);
}

document.addEventListener("DOMContentLoaded", main);
