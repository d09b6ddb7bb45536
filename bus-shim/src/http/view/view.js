// The claude-bus browser view: fed by /events (server-sent events sent when the bus changes).
// Read-only; every text from the bus goes in with textContent, never as HTML.
"use strict";
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
let snapshot = { agents: [], claims: [], keys: [], now: null };
let messages = [];
let offset = 0; // server clock minus ours, in ms
const claimSeen = new Map(); // path -> {owner, from, until, ended}
let ticking = null;

function el(tag, attrs, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const now = () => Date.now() + offset;
function ago(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}
function left(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}
function rows(tbody, list) {
  tbody.replaceChildren(...list);
}

function drawAgents() {
  rows($("agents").tBodies[0], snapshot.agents.map((a) => {
    const tr = el("tr", a.overlaps.length ? { class: "overlap" } : {},
      el("td", {}, a.name), el("td", {}, a.role), el("td", {}, a.host || ""),
      el("td", { class: a.status }, a.status),
      el("td", {}, a.waiting ? "waiting" : ""),
      el("td", {}, a.connected ? "now" : ago(now() - Date.parse(a.last_seen))),
      el("td", {}, a.owns.join(" ")), el("td", {}, a.overlaps.length ? "⚠ " + a.overlaps.join(", ") : ""));
    return tr;
  }));
}

function drawClaims() {
  const t = now();
  rows($("claims").tBodies[0], snapshot.claims
    .filter((c) => Date.parse(c.expires_at) > t)
    .map((c) => el("tr", {}, el("td", {}, c.path), el("td", {}, c.owner), el("td", {}, left(Date.parse(c.expires_at) - t)))));
  drawTimeline();
  // Count down only while a claim is on screen.
  const live = snapshot.claims.some((c) => Date.parse(c.expires_at) > t);
  if (live && !ticking) ticking = setInterval(() => { drawClaims(); drawAgents(); drawState(); }, 1000);
  if (!live && ticking) { clearInterval(ticking); ticking = null; }
}

function drawState() {
  rows($("state").tBodies[0], snapshot.keys.map((k) =>
    el("tr", {}, el("td", {}, k.key), el("td", {}, "v" + k.version), el("td", {}, k.updated_by), el("td", {}, ago(now() - Date.parse(k.updated_at))))));
}

function trackClaims() {
  const t = now();
  const live = new Set();
  for (const c of snapshot.claims) {
    live.add(c.path);
    const seen = claimSeen.get(c.path);
    const until = Date.parse(c.expires_at);
    if (!seen || seen.ended || seen.owner !== c.owner) {
      const ttl = (c.ttl_remaining || 0) * 1000;
      claimSeen.set(c.path, { owner: c.owner, from: seen && !seen.ended ? seen.from : Math.min(t, until - ttl), until, ended: false });
    } else {
      seen.until = until;
    }
  }
  for (const [path, c] of claimSeen) {
    if (!live.has(path) && !c.ended) { c.ended = true; c.until = Math.min(c.until, t); }
  }
}

// Claim timelines: one row per path, a bar from when it was claimed to its expiry (or its
// release, greyed), and a line at now.
function drawTimeline() {
  const svg = $("timeline");
  const list = [...claimSeen.entries()];
  const W = svg.clientWidth || 600, row = 18, top = 16, labelW = 170;
  svg.setAttribute("height", top + Math.max(1, list.length) * row + 4);
  svg.replaceChildren();
  if (!list.length) { svg.append(el("svg:text", { x: 4, y: 12 }, "no claims yet")); return; }
  const t = now();
  const from = Math.min(t - 60_000, ...list.map(([, c]) => c.from));
  const to = Math.max(t + 60_000, ...list.map(([, c]) => c.until));
  const x = (ms) => labelW + ((ms - from) / (to - from)) * (W - labelW - 8);
  svg.append(el("svg:text", { x: labelW, y: 11 }, new Date(from).toLocaleTimeString()));
  svg.append(el("svg:text", { x: W - 60, y: 11 }, new Date(to).toLocaleTimeString()));
  list.forEach(([path, c], i) => {
    const y = top + i * row;
    svg.append(el("svg:text", { x: 2, y: y + 12 }, `${path} (${c.owner})`.slice(0, 28)));
    svg.append(el("svg:rect", { x: x(c.from), y: y + 3, width: Math.max(2, x(c.until) - x(c.from)), height: row - 6, rx: 3, class: c.ended ? "claim ended" : "claim" },
      el("svg:title", {}, `${path}: ${c.owner}${c.ended ? " (ended)" : " until " + new Date(c.until).toLocaleTimeString()}`)));
  });
  svg.append(el("svg:line", { x1: x(t), x2: x(t), y1: top - 2, y2: top + list.length * row, class: "now" }));
}

// Traffic: a lane per session, time to the right; each message an arrow from its sender's
// lane to its recipient's (a broadcast: dashed, to every other lane).
function drawTraffic() {
  const svg = $("traffic");
  const recent = messages.slice(-300);
  const names = [...new Set([...snapshot.agents.map((a) => a.name), ...recent.flatMap((m) => [m.from, m.to])])]
    .filter((n) => n !== "all").sort();
  const W = svg.clientWidth || 900, lane = 26, top = 18, labelW = 110;
  svg.setAttribute("height", top + Math.max(1, names.length) * lane + 6);
  svg.replaceChildren();
  const y = (n) => top + names.indexOf(n) * lane + lane / 2;
  names.forEach((n) => {
    svg.append(el("svg:text", { x: 2, y: y(n) + 4 }, n.slice(0, 16)));
    svg.append(el("svg:line", { x1: labelW, x2: W - 4, y1: y(n), y2: y(n), class: "lane" }));
  });
  if (!recent.length) { svg.append(el("svg:text", { x: labelW, y: 12 }, "no messages yet")); return; }
  const last = Math.max(now(), Date.parse(recent[recent.length - 1].ts));
  const first = Math.min(Date.parse(recent[0].ts), last - 60_000);
  const span = last - first;
  const x = (ms) => labelW + 6 + ((ms - first) / span) * (W - labelW - 16);
  svg.append(el("svg:text", { x: labelW, y: 11 }, new Date(first).toLocaleTimeString()));
  svg.append(el("svg:text", { x: W - 60, y: 11 }, new Date(last).toLocaleTimeString()));
  for (const m of recent) {
    const mx = x(Date.parse(m.ts));
    const targets = m.to === "all" ? names.filter((n) => n !== m.from) : [m.to];
    for (const to of targets) {
      if (names.indexOf(to) < 0 || names.indexOf(m.from) < 0) continue;
      const line = el("svg:line", { x1: mx, x2: mx + 6, y1: y(m.from), y2: y(to), class: m.to === "all" ? "bcast" : "msg", "marker-end": "url(#arrow)" },
        el("svg:title", {}, `#${m.id} ${m.from} → ${m.to}: ${m.content.slice(0, 80)}`));
      svg.append(line);
    }
    svg.append(el("svg:circle", { cx: mx, cy: y(m.from), r: 2.5, fill: m.to === "all" ? "#9333ea" : "#0e7490" }));
  }
  const defs = el("svg:defs", {}, el("svg:marker", { id: "arrow", viewBox: "0 0 6 6", refX: 5, refY: 3, markerWidth: 5, markerHeight: 5, orient: "auto" },
    el("svg:path", { d: "M0,0 L6,3 L0,6 z", fill: "#0e7490" })));
  svg.prepend(defs);
}

// Messages, newest thread first; a reply sits under what it answers, indented.
function drawMessages(fresh) {
  const byId = new Map(messages.map((m) => [m.id, m]));
  const kids = new Map();
  const roots = [];
  for (const m of messages) {
    if (m.reply_to != null && byId.has(m.reply_to)) (kids.get(m.reply_to) || kids.set(m.reply_to, []).get(m.reply_to)).push(m);
    else roots.push(m);
  }
  const threads = roots.map((r) => {
    const out = [];
    const walk = (m, d) => { out.push([m, d]); for (const k of kids.get(m.id) || []) walk(k, d + 1); };
    walk(r, 0);
    return out;
  });
  threads.sort((a, b) => Math.max(...b.map(([m]) => m.id)) - Math.max(...a.map(([m]) => m.id)));
  $("messages").replaceChildren(...threads.flat().slice(0, 400).map(([m, d]) => {
    const to = m.to === "all" ? el("span", { class: "all" }, "⇒ all") : el("span", {}, "→ ", el("span", { class: "who" }, m.to));
    const li = el("li", { style: `padding-left:${d * 1.6}em`, "data-id": m.id },
      el("span", { class: "meta" }, (d ? "↳ " : "") + `#${m.id} ${m.ts.slice(11, 19)} `),
      el("span", { class: "who" }, m.from), " ", to, "\n", m.content + (m.cut ? " … (cut)" : ""));
    if (fresh.has(m.id)) li.classList.add("new");
    return li;
  }));
}

function summary() {
  const online = snapshot.agents.filter((a) => a.status === "online").length;
  $("summary").textContent = `${online}/${snapshot.agents.length} online · ${snapshot.claims.length} claims · ${snapshot.keys.length} keys · ${messages.length} messages`;
}

const events = new EventSource("/events");
events.addEventListener("open", () => { $("live").className = "on"; $("live").textContent = "live"; });
events.addEventListener("error", () => { $("live").className = "off"; $("live").textContent = "reconnecting…"; });
events.addEventListener("reset", () => { messages = []; });
events.addEventListener("snapshot", (e) => {
  snapshot = JSON.parse(e.data);
  offset = Date.parse(snapshot.now) - Date.now();
  trackClaims();
  drawAgents(); drawClaims(); drawState(); drawTraffic(); summary();
});
events.addEventListener("messages", (e) => {
  const fresh = JSON.parse(e.data);
  const first = messages.length === 0;
  messages = messages.concat(fresh).slice(-2000);
  drawMessages(new Set(first ? [] : fresh.map((m) => m.id)));
  drawTraffic(); summary();
});
events.addEventListener("ended", (e) => {
  $("live").className = "off";
  $("live").textContent = "ended: " + JSON.parse(e.data).why;
  events.close();
});
window.addEventListener("resize", () => { drawTraffic(); drawTimeline(); });
