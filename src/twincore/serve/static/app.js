// The page: draw or upload an item, show the model's class probabilities as an SVG bar chart.
// Plain JS, no libraries (the machine serving it may have no internet).
"use strict";
const $ = (id) => document.getElementById(id);
let model = null;
let userSetInvert = false;
let lastUpload = null; // the uploaded image's 28x28 grey pixels before inversion

async function api(path, body) {
  const opts = body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {};
  const r = await fetch(path, opts);
  const doc = await r.json();
  if (!r.ok) throw new Error(`${doc.status} ${doc.field}: ${doc.error}`);
  return doc;
}

function showError(msg, id = "error") {
  const e = $(id);
  e.textContent = msg || "";
  e.hidden = !msg;
}

async function init() {
  model = await api("/model");
  const s = model.summary || {};
  const acc = typeof s.test_accuracy === "number" ? `, test accuracy ${s.test_accuracy.toFixed(4)}` : "";
  $("model-line").textContent = `${model.name} (${model.parameters.toLocaleString()} parameters, trained with ` +
    `${model.trained_with}, ${model.epoch} epoch(s)${acc}) served through ${model.serving_frontend} ` +
    `\u00b7 version ${model.version}`;
  if (model.task === "regress") {
    $("images").hidden = true;
    $("numbers").hidden = false;
    $("go").onclick = predictNumber;
    return;
  }
  setupDrawing();
  $("file").addEventListener("change", onFile);
  $("invert").addEventListener("change", () => { userSetInvert = true; if (lastUpload) sendUpload(); });
  drawChart(null);
}

// ---- drawing: a 280x280 canvas, white strokes on black, shrunk to 28x28 when the pen lifts
function setupDrawing() {
  const c = $("draw"), ctx = c.getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, c.width, c.height);
  let down = false, last = null;
  const pos = (e) => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height]; };
  c.addEventListener("pointerdown", (e) => { down = true; last = pos(e); c.setPointerCapture(e.pointerId); stroke(last, last); });
  c.addEventListener("pointermove", (e) => { if (!down) return; const p = pos(e); stroke(last, p); last = p; });
  const up = () => { if (!down) return; down = false; lastUpload = null; predict(shrink(c)); };
  c.addEventListener("pointerup", up);
  c.addEventListener("pointercancel", up);
  function stroke(a, b) {
    ctx.strokeStyle = "#fff"; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.lineWidth = +$("brush").value;
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
  }
  $("clear").onclick = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, c.width, c.height); drawChart(null); $("top-class").textContent = ""; $("top-prob").textContent = ""; };
}

// Halve while more than twice too big, then one last smoothed step: a box-like average.
function shrink(src) {
  let cur = src;
  while (cur.width > 56 || cur.height > 56) {
    const n = document.createElement("canvas");
    n.width = Math.max(28, Math.ceil(cur.width / 2)); n.height = Math.max(28, Math.ceil(cur.height / 2));
    const nctx = n.getContext("2d"); nctx.imageSmoothingEnabled = true; nctx.imageSmoothingQuality = "high";
    nctx.drawImage(cur, 0, 0, n.width, n.height); cur = n;
  }
  const out = document.createElement("canvas"); out.width = out.height = 28;
  const octx = out.getContext("2d", { willReadFrequently: true });
  octx.imageSmoothingEnabled = true; octx.imageSmoothingQuality = "high";
  octx.drawImage(cur, 0, 0, 28, 28);
  const d = octx.getImageData(0, 0, 28, 28).data, px = new Array(784);
  for (let i = 0; i < 784; i++) px[i] = d[4 * i]; // grey already: R = G = B
  return px;
}

// ---- upload: grey (ITU-R 601 luma, as Pillow's "L"), alpha on black, padded square, 28x28
function onFile() {
  const f = $("file").files[0];
  if (!f) return;
  const url = URL.createObjectURL(f), img = new Image();
  img.onload = () => { URL.revokeObjectURL(url); lastUpload = toGrey28(img); userSetInvert = false; sendUpload(); };
  img.onerror = () => { URL.revokeObjectURL(url); showError("this file is not an image the browser can read"); };
  img.src = url;
}

function toGrey28(img) {
  const scale = Math.min(1, 1024 / Math.max(img.naturalWidth, img.naturalHeight)); // bound the work on huge photos
  const w = Math.max(1, Math.round(img.naturalWidth * scale)), h = Math.max(1, Math.round(img.naturalHeight * scale));
  const c = document.createElement("canvas"); c.width = w; c.height = h;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0, w, h);
  const im = ctx.getImageData(0, 0, w, h), d = im.data, border = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = 4 * (y * w + x), a = d[i + 3] / 255;
    const g = Math.round((0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]) * a);
    d[i] = d[i + 1] = d[i + 2] = g; d[i + 3] = 255;
    if (x === 0 || y === 0 || x === w - 1 || y === h - 1) border.push(g);
  }
  ctx.putImageData(im, 0, 0);
  border.sort((p, q) => p - q);
  const bg = border[Math.floor(border.length / 2)], side = Math.max(w, h);
  const sq = document.createElement("canvas"); sq.width = sq.height = side;
  const sctx = sq.getContext("2d");
  sctx.fillStyle = `rgb(${bg},${bg},${bg})`; sctx.fillRect(0, 0, side, side);
  sctx.drawImage(c, Math.floor((side - w) / 2), Math.floor((side - h) / 2));
  const px = side === 28 ? Array.from(sctx.getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0)) : shrink(sq);
  return { px, light: bg > 127 };
}

function sendUpload() {
  if (!userSetInvert) $("invert").checked = lastUpload.light;
  const inv = $("invert").checked;
  predict(lastUpload.px.map((v) => (inv ? 255 - v : v)));
}

// ---- the API call and the chart
async function predict(px) {
  const rows = [];
  for (let r = 0; r < 28; r++) rows.push(px.slice(28 * r, 28 * r + 28));
  showPreview(px);
  try {
    const doc = await api("/predict", { instances: [rows], scale: "0-255", top_k: model.classes.length });
    const p = doc.predictions[0];
    $("top-class").textContent = p.class;
    $("top-prob").textContent = `${(100 * p.top_k[0].probability).toFixed(1)}%`;
    drawChart(p);
    showError("");
    document.body.dataset.predictions = String(+(document.body.dataset.predictions || 0) + 1);
  } catch (e) {
    showError(String(e.message || e));
  }
}

function showPreview(px) {
  const ctx = $("preview").getContext("2d"), im = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) { im.data[4 * i] = im.data[4 * i + 1] = im.data[4 * i + 2] = px[i]; im.data[4 * i + 3] = 255; }
  ctx.putImageData(im, 0, 0);
}

function drawChart(p) {
  const svg = $("chart"), ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const names = model.classes, rowH = 28, left = 110, barMax = 250;
  const items = names.map((name, j) => ({ name, j, prob: p ? p.probabilities[j] : 0 }));
  if (p) items.sort((a, b) => b.prob - a.prob);
  svg.setAttribute("height", String(items.length * rowH + 6));
  items.forEach((it, k) => {
    const g = document.createElementNS(ns, "g");
    g.setAttribute("class", "bar" + (p && k === 0 ? " best" : ""));
    g.setAttribute("data-class", it.name); g.setAttribute("data-probability", String(it.prob));
    g.setAttribute("transform", `translate(0, ${k * rowH + 3})`);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(left - 8)); label.setAttribute("y", "17"); label.setAttribute("text-anchor", "end");
    label.textContent = it.name;
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", String(left)); r.setAttribute("y", "4"); r.setAttribute("rx", "3"); r.setAttribute("height", "18");
    r.setAttribute("width", String(Math.max(1, it.prob * barMax)));
    const v = document.createElementNS(ns, "text");
    v.setAttribute("x", String(left + Math.max(1, it.prob * barMax) + 6)); v.setAttribute("y", "17");
    v.textContent = p ? `${(100 * it.prob).toFixed(1)}%` : "";
    g.append(label, r, v); svg.append(g);
  });
}

async function predictNumber() {
  try {
    const doc = await api("/predict", { instances: [+$("x").value] });
    $("y").textContent = `y = ${doc.predictions[0].value.toFixed(5)}`;
    showError("", "error-n");
  } catch (e) { showError(String(e.message || e), "error-n"); }
}

init().catch((e) => showError(`cannot load /model: ${e.message || e}`));
