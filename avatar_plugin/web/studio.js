// The studio page: the avatar, a slider per parameter, expression buttons, source/sink status, a live plot
// of mouth / eyes / head, and the OBS URL to copy. Talks to the daemon through /ws (frames), /api (control)
// and /health (status, polled once a second).

import { mountAvatar } from "./avatar.js";
import { connectApi, withToken, pageToken } from "./stream.js";

const $ = (id) => document.getElementById(id);
const api = connectApi();
const held = new Set();
const sliders = new Map(); // id -> {input, value, row}
const history = []; // [t, mouth, eyes, headX, headY]
let latest = null;
let status = null;

// --- stage -------------------------------------------------------------------------------------------------
const stage = $("stage");
stage.dataset.bg = localStorage.getItem("studio-bg") || "checker";
for (const b of document.querySelectorAll("[data-bg]")) {
  b.onclick = () => { stage.dataset.bg = b.dataset.bg; localStorage.setItem("studio-bg", b.dataset.bg); };
}

const GROUPS = [
  ["Head", /^ParamAngle/], ["Eyes", /^ParamEye/], ["Brows", /^ParamBrow/], ["Mouth", /^Param(Mouth|[AIUEO]$)/],
  ["Body", /^Param(Body|Breath)/], ["Hair", /^ParamHair/], ["Other", /./],
];

function buildSliders(axes) {
  const box = $("params");
  box.textContent = "";
  sliders.clear();
  const ids = Object.keys(axes);
  const used = new Set();
  for (const [group, re] of GROUPS) {
    const members = ids.filter((id) => !used.has(id) && re.test(id));
    if (!members.length) continue;
    const title = document.createElement("div");
    title.className = "group";
    title.textContent = group;
    box.append(title);
    for (const id of members) {
      used.add(id);
      const a = axes[id];
      const row = document.createElement("div");
      row.className = "param";
      row.innerHTML = `<span class="name" title="${id}">${id.replace(/^Param/, "")}</span>
        <input type="range" min="${a.min}" max="${a.max}" step="${(a.max - a.min) / 200}" value="${a.default}">
        <span class="val">${a.default.toFixed(2)}</span><button class="release" title="release">×</button>`;
      const input = row.querySelector("input"), value = row.querySelector(".val");
      input.addEventListener("input", () => {
        held.add(id); row.classList.add("held");
        value.textContent = Number(input.value).toFixed(2);
        api.send({ type: "set", params: { [id]: Number(input.value) } });
      });
      input.addEventListener("dblclick", () => release(id));
      row.querySelector(".release").onclick = () => release(id);
      sliders.set(id, { input, value, row });
      box.append(row);
    }
  }
}

function release(id) {
  held.delete(id);
  sliders.get(id)?.row.classList.remove("held");
  api.send({ type: "clear", params: [id] });
}

$("release-all").onclick = () => {
  for (const id of held) sliders.get(id)?.row.classList.remove("held");
  held.clear();
  api.send({ type: "clear" });
};

// --- expressions -------------------------------------------------------------------------------------------
const EMOJI = { neutral: "😐", happy: "😊", sad: "😢", angry: "😠", surprised: "😮" };
function buildExpressions(names) {
  const box = $("expressions");
  if (box.dataset.names === names.join(",")) return;
  box.dataset.names = names.join(",");
  box.textContent = "";
  for (const name of names) {
    const b = document.createElement("button");
    b.textContent = `${EMOJI[name] || "✨"} ${name}`;
    b.dataset.name = name;
    b.onclick = async () => {
      const fade = Number($("fade").value) || 0;
      const msg = { type: "expression", name, fade };
      if (!$("forever").checked && name !== "neutral") msg.duration = Number($("duration").value) || 0;
      const reply = await api.request(msg);
      if (!reply.ok) console.warn(reply.error);
    };
    box.append(b);
  }
}

// --- status ------------------------------------------------------------------------------------------------
function renderComponents(h) {
  const list = $("components");
  const all = [...h.sources, ...h.sinks];
  list.textContent = "";
  const builtIn = document.createElement("li");
  builtIn.className = "running";
  builtIn.innerHTML = `<span class="dot"></span><span>renderer stream <span class="state">built in</span></span>
    <span class="state">${h.clients.ws} viewer${h.clients.ws === 1 ? "" : "s"}</span>`;
  list.append(builtIn);
  if (!all.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No sources or sinks configured: idle life is driving the avatar. Turn on [mic], [webcam], "
      + "[tts] or [vtube_studio] in your config.";
    list.append(li);
  }
  for (const c of all) {
    const li = document.createElement("li");
    li.className = c.state;
    const detail = c.error && c.state === "retrying" ? `${c.error} — retrying in ${c.retry_in_s}s` : c.detail;
    li.innerHTML = `<span class="dot"></span><span></span><span class="state"></span><span class="detail"></span>`;
    li.children[1].textContent = `${c.name} `;
    const kind = document.createElement("span"); kind.className = "state"; kind.textContent = c.kind;
    li.children[1].append(kind);
    li.children[2].textContent = c.state;
    li.children[3].textContent = detail || "";
    if (c.name === "webcam" && (h.api_types || []).includes("webcam_calibrate")) {
      const cal = document.createElement("button");
      cal.className = "ghost calibrate";
      cal.textContent = "Calibrate";
      cal.title = "Look straight at the camera with a relaxed face, then click: this pose becomes neutral";
      cal.onclick = async () => {
        const reply = await api.request({ type: "webcam_calibrate" });
        cal.textContent = reply.ok ? "Calibrated ✓" : "Failed";
        setTimeout(() => { cal.textContent = "Calibrate"; }, 1500);
      };
      li.append(cal);
    }
    list.append(li);
  }
}

async function pollStatus() {
  try {
    const r = await fetch(withToken("/api/status"), { cache: "no-store" });
    status = await r.json();
    $("rate").textContent = `${status.tick_hz.toFixed(0)} Hz`;
    $("puppet-name").textContent = status.puppet.name ? `· ${status.puppet.name}` : "";
    buildExpressions(status.expressions);
    renderComponents(status);
    $("expression-badge").textContent = status.expression;
    for (const b of $("expressions").children) b.classList.toggle("active", b.dataset.name === status.expression);
  } catch (e) { /* offline: the pill says so */ }
  setTimeout(pollStatus, 1000);
}

// --- OBS URL -----------------------------------------------------------------------------------------------
const obs = `${location.origin}/${pageToken() ? `?token=${encodeURIComponent(pageToken())}` : ""}`;
$("obs-url").value = obs;
$("copy").onclick = async () => {
  try { await navigator.clipboard.writeText(obs); } catch { $("obs-url").select(); document.execCommand("copy"); }
  $("copy").textContent = "Copied ✓";
  setTimeout(() => { $("copy").textContent = "Copy"; }, 1400);
};

// --- plot --------------------------------------------------------------------------------------------------
const plot = $("plot");
function drawPlot() {
  const dpr = window.devicePixelRatio || 1;
  const w = plot.clientWidth * dpr, h = plot.clientHeight * dpr;
  if (plot.width !== w || plot.height !== h) { plot.width = w; plot.height = h; }
  const g = plot.getContext("2d");
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#332e48"; g.lineWidth = 1;
  for (const y of [0.25, 0.5, 0.75]) { g.beginPath(); g.moveTo(0, y * h); g.lineTo(w, y * h); g.stroke(); }
  if (history.length > 1) {
    const t1 = history[history.length - 1][0], span = 10;
    const colors = ["#ff7aa8", "#6ad7ff", "#ffd166", "#b392ff"];
    for (let k = 0; k < 4; k++) {
      g.strokeStyle = colors[k]; g.lineWidth = 1.6 * dpr; g.beginPath();
      history.forEach((p, i) => {
        const x = w - (t1 - p[0]) / span * w, y = h - (p[k + 1] * 0.86 + 0.07) * h;
        if (i) g.lineTo(x, y); else g.moveTo(x, y);
      });
      g.stroke();
    }
  }
  requestAnimationFrame(drawPlot);
}

function onFrame(frame) {
  latest = frame;
  const p = frame.params;
  const n = (v, lo, hi) => (v == null ? 0.5 : (v - lo) / (hi - lo));
  history.push([frame.t, n(p.ParamMouthOpenY, 0, 1), n(((p.ParamEyeLOpen ?? 1) + (p.ParamEyeROpen ?? 1)) / 2, 0, 1),
                n(p.ParamAngleX, -30, 30), n(p.ParamAngleY, -30, 30)]);
  while (history.length && frame.t - history[0][0] > 10.5) history.shift();
}

function followSliders() {
  if (latest) {
    for (const [id, s] of sliders) {
      if (held.has(id)) continue;
      const v = latest.params[id];
      if (v == null) continue;
      s.input.value = v;
      s.value.textContent = v.toFixed(2);
    }
  }
  setTimeout(followSliders, 50);
}

const setConn = (s) => { $("conn").className = `pill ${s}`; $("conn-text").textContent = s; };

window.studio = await mountAvatar($("avatar"), {
  onFrame, onState: setConn, onPuppet: (_puppet, axes) => buildSliders(axes),
});
window.studioReady = true;
pollStatus();
followSliders();
requestAnimationFrame(drawPlot);
