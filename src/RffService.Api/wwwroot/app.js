// RffService demo page: choose a model, upload or drop an image; a classifier shows its top classes and an explanation
// (image, overlay and map side by side, or every method at once) and can switch activations off (a region dragged on the
// map, or the top K channels) to show the prediction and the map with and without them; a detector shows its
// detections, each explainable.
"use strict";

const $ = (id) => document.getElementById(id);
let METHOD_NAMES = {}; // method= name -> title, from GET /models

// CSS gradients of the service's colour maps, for the legend.
const LEGENDS = {
  jet: "linear-gradient(to right, #00008f, #0000ff, #00ffff, #80ff80, #ffff00, #ff0000, #800000)",
  viridis: "linear-gradient(to right, #440154, #3b528b, #21918c, #5ec962, #fde725)",
  inferno: "linear-gradient(to right, #000004, #57106e, #bc3754, #f98e09, #fcffa4)",
  gray: "linear-gradient(to right, #000, #fff)",
};

let models = [];
let current = null; // { file, url, imageId, model }
let controller = null; // aborts the request in flight when a newer one starts, or on Cancel
let region = null; // the box dragged on the overlay, in the original image's pixels: { x, y, w, h }, or null (whole map)

function show(id, visible) { $(id).hidden = !visible; }

function setError(message) {
  $("error").textContent = message || "";
  show("error", Boolean(message));
}

function clearResults() {
  for (const id of ["classification", "detection", "explanation", "comparison", "intervention", "ablate-result"]) show(id, false);
  $("predictions").replaceChildren();
  $("detections").replaceChildren();
  $("comparison-grid").replaceChildren();
  $("faithfulness").replaceChildren();
}

/** Starts a new unit of work: the previous one is aborted, the busy indicator shown. */
function begin(message) {
  controller?.abort();
  controller = new AbortController();
  setError("");
  $("status").textContent = message;
  show("busy", true);
  show("cancel", true);
  return controller.signal;
}

function end(signal, message) {
  if (signal.aborted) return;
  show("busy", false);
  show("cancel", false);
  if (message !== undefined) $("status").textContent = message;
}

function fail(signal, error) {
  if (signal.aborted || error?.name === "AbortError") return;
  clearResults();
  end(signal, "");
  setError(String(error?.message || error));
}

async function problem(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || body.error || response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

/** Waits ms, or rejects with AbortError as soon as signal aborts. */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException("Aborted", "AbortError"));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("Aborted", "AbortError")); }, { once: true });
  });
}

// A 503 with Retry-After (explanations still being checked after a start, a full queue) is asked again, up to this long.
const RETRY_FOR_SECONDS = 120;

async function getJson(url, options) {
  const started = Date.now();
  for (;;) {
    const response = await fetch(url, options);
    const retryAfter = Number(response.headers.get("Retry-After"));
    if (response.status === 503 && retryAfter > 0 && Date.now() - started < RETRY_FOR_SECONDS * 1000) {
      $("status").textContent = `${await problem(response)} Asking again in ${retryAfter} s…`;
      await pause(retryAfter * 1000, options?.signal);
      continue;
    }
    if (!response.ok) throw new Error(await problem(response));
    return response.json();
  }
}

function selectedModel() { return models.find((m) => m.name === $("model").value); }

async function loadModels() {
  const answer = await getJson("/models");
  models = answer.models.filter((m) => m.state === "ready");
  METHOD_NAMES = Object.fromEntries(answer.camMethods.map((m) => [m.name, m.title]));
  $("cam-method").replaceChildren(...answer.camMethods.map((m) => new Option(m.title, m.name)));
  $("model").replaceChildren(...models.map((m) => new Option(`${m.name} (${m.task})`, m.name)));
  // Open on the model a request without ?model= gets (the configured default classifier).
  const preferred = models.find((m) => m.name === answer.defaultModels.classification);
  if (preferred) $("model").value = preferred.name;
  onModelChanged();
}

function describe(model) {
  const size = model.input.dynamicSize ? `any size (trained at ${model.input.width}x${model.input.height})` : `${model.input.width}x${model.input.height}`;
  const colour = model.input.channels === 1 ? "gray" : "colour";
  const expects = model.input.expects ? ` Expects: ${model.input.expects}.` : "";
  return `${model.labels.length} classes; input ${size}, ${colour}.${expects}`;
}

function onModelChanged() {
  const model = selectedModel();
  if (!model) return;
  $("model-info").textContent = describe(model);
  show("cam-controls", model.task === "classification");
  const layers = (model.camLayers || []).filter((l) => !l.refused).reverse();
  $("cam-layer").replaceChildren(...layers.map((l) => {
    const option = new Option(`${l.name} (${l.shape.join("x")})`, l.name, false, l.name === model.defaultCamLayer);
    option.title = option.text; // the full name, where the select shows it cut short
    return option;
  }));
  onLayerChanged();
  clearResults();
  if (current) run();
}

function selectedLayer() {
  return (selectedModel()?.camLayers || []).find((l) => l.name === $("cam-layer").value);
}

// Only the methods the chosen layer supports can be picked (CAM needs a linear readout after the layer).
function onLayerChanged() {
  const layer = selectedLayer();
  $("cam-layer").title = $("cam-layer").selectedOptions[0]?.text || "";
  for (const option of $("cam-method").options) option.disabled = Boolean(layer) && !layer.methods.includes(option.value);
  if ($("cam-method").selectedOptions[0]?.disabled && layer) $("cam-method").value = layer.methods[0];
}

async function run() {
  const model = selectedModel();
  if (!current || !model) return;
  clearResults();
  const signal = begin(`Running ${model.name}…`);
  const form = new FormData();
  form.append("image", current.file);
  try {
    if (model.task === "classification") await classify(model, form, signal);
    else await detect(model, form, signal);
  } catch (e) {
    fail(signal, e);
  }
}

async function classify(model, form, signal) {
  const result = await getJson(`/classify?model=${encodeURIComponent(model.name)}&topK=5`, { method: "POST", body: form, signal });
  current.imageId = result.imageId;
  current.model = model.name;
  $("predictions").replaceChildren(...predictionItems(result.predictions));
  show("classification", true);
  const summary = `${result.model} v${result.version} on ${result.executionProvider}: ${result.timings.totalMs.toFixed(1)} ms`;
  await explain(model, {}, signal, summary);
}

/** List items of predictions: label, probability and a bar of its length. */
function predictionItems(predictions, barWidth = 160) {
  return predictions.map((p) => {
    const item = document.createElement("li");
    item.className = "prediction";
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = p.label;
    const value = document.createElement("span");
    value.className = "probability";
    value.textContent = ` ${(100 * p.probability).toFixed(1)}%`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.setAttribute("aria-hidden", "true");
    bar.style.width = `${Math.max(1, barWidth * p.probability)}px`;
    item.append(label, value, bar);
    return item;
  });
}

function camQuery(model, extra) {
  return new URLSearchParams({
    imageId: current.imageId, model: model.name, colormap: $("cam-colormap").value, faithfulness: "true", ...extra,
  });
}

/** One explanation (of the top class, or of one detection with extra.detection), shown in the explanation panel. */
async function explain(model, extra, signal, summary) {
  const classification = model.task === "classification";
  const query = camQuery(model, classification ? { method: $("cam-method").value, layer: $("cam-layer").value, ...extra } : extra);
  $("status").textContent = `${summary ? summary + "; " : ""}explaining…`;
  const cam = await getJson(`/cam?${query}`, { signal });
  $("cam-original").src = current.url;
  $("cam-overlay").src = `data:image/png;base64,${cam.overlay}`;
  $("cam-heatmap").src = `data:image/png;base64,${cam.heatmap}`;
  $("legend-bar").style.background = LEGENDS[$("cam-colormap").value] || LEGENDS.jet;
  const what = cam.detection ? `detection "${cam.detection.label}"` : `"${cam.target.label}"`;
  $("cam-caption").textContent = `${cam.method} on ${cam.layer} for ${what} (${cam.timings.totalMs.toFixed(1)} ms)`;
  showFaithfulness(cam.faithfulness);
  show("explanation", true);
  if (classification) {
    current.target = cam.target;
    show("ablate-result", false);
    $("ablate-summary").textContent = "";
    show("intervention", true);
  }
  end(signal, summary ?? `${METHOD_NAMES[cam.method] || cam.method}: ${cam.timings.totalMs.toFixed(1)} ms`);
}

function showFaithfulness(scores) {
  const rows = [];
  if (scores) {
    const entries = [
      ["Average drop", `${(100 * scores.averageDrop).toFixed(1)}%`, "confidence lost when only the highlighted part is kept (lower is better)"],
      ["Increase in confidence", scores.increaseInConfidence ? "yes" : "no", "keeping only the highlighted part raised the confidence"],
      ["Deletion AUC", scores.deletionAuc.toFixed(3), "confidence while the most highlighted pixels are removed (lower is better)"],
    ];
    for (const [name, value, help] of entries) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      dt.title = help;
      const dd = document.createElement("dd");
      dd.textContent = value;
      rows.push(dt, dd);
    }
  }
  $("faithfulness").replaceChildren(...rows);
}

/** Every method the layer supports, one after another (Score-CAM and Ablation-CAM take longest). */
async function compare() {
  const model = selectedModel();
  if (!current?.imageId || model?.task !== "classification") return;
  const methods = selectedLayer()?.methods || Object.keys(METHOD_NAMES);
  const signal = begin("Comparing methods…");
  const grid = $("comparison-grid");
  grid.replaceChildren();
  show("comparison", true);
  try {
    for (const method of methods) {
      $("status").textContent = `Comparing methods: ${METHOD_NAMES[method] || method}…`;
      const cam = await getJson(`/cam?${camQuery(model, { method, layer: $("cam-layer").value, faithfulness: "false" })}`, { signal });
      const figure = document.createElement("figure");
      figure.className = "method";
      const img = document.createElement("img");
      img.src = `data:image/png;base64,${cam.overlay}`;
      img.alt = `${METHOD_NAMES[method] || method} overlay`;
      const caption = document.createElement("figcaption");
      caption.textContent = `${METHOD_NAMES[method] || method} (${cam.timings.totalMs.toFixed(0)} ms)`;
      figure.append(img, caption);
      grid.append(figure);
    }
    end(signal, `Compared ${methods.length} methods on ${$("cam-layer").value}.`);
  } catch (e) {
    fail(signal, e);
  }
}

async function detect(model, form, signal) {
  const result = await getJson(`/detect?model=${encodeURIComponent(model.name)}&overlay=true`, { method: "POST", body: form, signal });
  current.imageId = result.imageId;
  current.model = model.name;
  $("detection-overlay").src = `data:image/png;base64,${result.overlay}`;
  $("detection-caption").textContent = `${result.detections.length} detection(s), ${result.timings.totalMs.toFixed(1)} ms`;
  $("detections").replaceChildren(...result.detections.map((d, index) => {
    const item = document.createElement("li");
    item.className = "detection";
    const text = document.createElement("span");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = d.label;
    text.append(label, ` ${(100 * d.score).toFixed(1)}% at (${Math.round(d.box.x)}, ${Math.round(d.box.y)}) ` +
      `${Math.round(d.box.width)}x${Math.round(d.box.height)}`);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary explain";
    button.textContent = "Explain";
    button.setAttribute("aria-label", `Explain detection ${index + 1}: ${d.label}`);
    button.addEventListener("click", () => explainDetection(model, index));
    item.append(text, button);
    return item;
  }));
  show("detection", true);
  end(signal, `${result.model} v${result.version}: ${result.detections.length} detection(s), ${result.timings.totalMs.toFixed(1)} ms`);
}

async function explainDetection(model, index) {
  const signal = begin(`Explaining detection ${index + 1}…`);
  try {
    await explain(model, { detection: String(index) }, signal);
  } catch (e) {
    fail(signal, e);
  }
}

async function reexplain() {
  const model = selectedModel();
  if (!current?.imageId || model?.task !== "classification" || current.model !== model.name) return;
  show("comparison", false);
  const signal = begin("Explaining…");
  try {
    await explain(model, {}, signal);
  } catch (e) {
    fail(signal, e);
  }
}

// Interventions (ablate=): the region is dragged on the overlay, the channels chosen in the panel; the layer is the
// explanation's. The answer is shown beside the prediction and the map without it.

/** Where a pointer event lies on the overlay, as fractions of its width and height (clamped to 0..1). */
function fractionOnMap(event) {
  const rect = $("cam-overlay").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return { fx: clamp((event.clientX - rect.left) / rect.width), fy: clamp((event.clientY - rect.top) / rect.height) };
}

function drawRegion(a, b) {
  const box = $("ablate-box");
  const left = Math.min(a.fx, b.fx), top = Math.min(a.fy, b.fy);
  Object.assign(box.style, {
    left: `${100 * left}%`, top: `${100 * top}%`,
    width: `${100 * Math.abs(b.fx - a.fx)}%`, height: `${100 * Math.abs(b.fy - a.fy)}%`,
  });
  show("ablate-box", true);
}

/** The dragged box in the original image's pixels (the overlay may be drawn at another size). */
function regionInImage(a, b) {
  const width = $("cam-original").naturalWidth, height = $("cam-original").naturalHeight;
  const x0 = Math.floor(Math.min(a.fx, b.fx) * width), y0 = Math.floor(Math.min(a.fy, b.fy) * height);
  const x1 = Math.ceil(Math.max(a.fx, b.fx) * width), y1 = Math.ceil(Math.max(a.fy, b.fy) * height);
  return x1 - x0 >= 1 && y1 - y0 >= 1 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : null;
}

function setRegion(value) {
  region = value;
  if (!region) show("ablate-box", false);
  $("ablate-region").textContent = region
    ? `Region: x ${region.x}, y ${region.y}, ${region.w}x${region.h} pixels of the image.`
    : "Region: the whole map (drag on the overlay to choose one).";
}

let dragStart = null;
const stage = $("cam-stage");
stage.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  e.preventDefault();
  dragStart = fractionOnMap(e);
  stage.setPointerCapture(e.pointerId);
});
stage.addEventListener("pointermove", (e) => { if (dragStart) drawRegion(dragStart, fractionOnMap(e)); });
stage.addEventListener("pointerup", (e) => {
  if (!dragStart) return;
  const start = dragStart, end = fractionOnMap(e);
  dragStart = null;
  drawRegion(start, end);
  setRegion(regionInImage(start, end));
});

/** The ablate= value for the panel's choices: <layer>:<all|topK>[@x,y,w,h][=blank]. */
function ablateSpec() {
  const what = $("ablate-top").checked ? `top${Math.max(1, Math.round(Number($("ablate-k").value) || 1))}` : "all";
  const where = region ? `@${region.x},${region.y},${region.w},${region.h}` : "";
  return `${$("cam-layer").value}:${what}${where}${$("ablate-blank").checked ? "=blank" : ""}`;
}

async function intervene() {
  const model = selectedModel();
  if (!current?.imageId || model?.task !== "classification") return;
  const signal = begin("Switching off…");
  const spec = ablateSpec();
  const form = new FormData();
  form.append("image", current.file);
  try {
    const result = await getJson(`/classify?model=${encodeURIComponent(model.name)}&topK=5&ablate=${encodeURIComponent(spec)}`,
      { method: "POST", body: form, signal });
    // The map of the same class as before, on the intervened network, for a like-for-like comparison.
    const cam = await getJson(`/cam?${camQuery(model, {
      method: $("cam-method").value, layer: $("cam-layer").value, target: String(current.target.index), faithfulness: "false", ablate: spec,
    })}`, { signal });
    $("ablate-map-before").src = $("cam-overlay").src;
    $("ablate-map-after").src = `data:image/png;base64,${cam.overlay}`;
    $("ablate-before").replaceChildren(...predictionItems(result.original, 100));
    $("ablate-after").replaceChildren(...predictionItems(result.predictions, 100));
    $("ablate-summary").textContent = describeIntervention(result);
    show("ablate-result", true);
    end(signal, `Switched off on ${$("cam-layer").value}: ${result.timings.totalMs.toFixed(1)} ms`);
  } catch (e) {
    if (signal.aborted || e?.name === "AbortError") return;
    end(signal, "");
    setError(String(e?.message || e));
  }
}

function describeIntervention(result) {
  const switched = result.intervention.applied.map((a) =>
    `${a.channels.length} channel(s) in ${a.cells} of ${a.cellsInLayer} cells set to ${a.value}`).join("; ");
  const before = result.original[0], after = result.predictions[0];
  const top = before.label === after.label
    ? `top class still ${after.label}, ${(100 * before.probability).toFixed(1)}% → ${(100 * after.probability).toFixed(1)}%`
    : `top class ${before.label} ${(100 * before.probability).toFixed(1)}% → ${after.label} ${(100 * after.probability).toFixed(1)}%`;
  const largest = [...result.changes].sort((a, b) => Math.abs(b.change) - Math.abs(a.change))[0];
  const sign = largest.change >= 0 ? "+" : "−";
  return `${switched}: ${top}; largest change ${largest.label} ${sign}${Math.abs(100 * largest.change).toFixed(1)} points.`;
}

function useFile(file) {
  if (!file) return;
  if (current?.url) URL.revokeObjectURL(current.url);
  current = { file, url: URL.createObjectURL(file), imageId: null, model: null, target: null };
  setRegion(null);
  $("preview").src = current.url;
  show("preview", true);
  run();
}

$("model").addEventListener("change", onModelChanged);
$("file").addEventListener("change", (e) => useFile(e.target.files[0]));
$("cam-layer").addEventListener("change", () => { onLayerChanged(); reexplain(); });
$("cam-method").addEventListener("change", reexplain);
$("cam-colormap").addEventListener("change", reexplain);
$("compare").addEventListener("click", compare);
$("ablate-run").addEventListener("click", intervene);
$("ablate-clear").addEventListener("click", () => setRegion(null));
$("cancel").addEventListener("click", () => {
  controller?.abort();
  show("busy", false);
  show("cancel", false);
  $("status").textContent = "Cancelled.";
});
const drop = $("drop");
drop.addEventListener("click", () => $("file").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); } });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); useFile(e.dataTransfer.files[0]); });

loadModels().catch((e) => setError(`Could not list the models: ${e.message}`));
