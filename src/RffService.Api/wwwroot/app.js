// RffService demo page: choose a model, upload or drop an image; a classifier shows its top classes and an explanation
// (image, overlay and map side by side, or every method at once); a detector shows its detections, each explainable.
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

function show(id, visible) { $(id).hidden = !visible; }

function setError(message) {
  $("error").textContent = message || "";
  show("error", Boolean(message));
}

function clearResults() {
  for (const id of ["classification", "detection", "explanation", "comparison"]) show(id, false);
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

async function getJson(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) throw new Error(await problem(response));
  return response.json();
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
  $("cam-layer").replaceChildren(...layers.map((l) => new Option(`${l.name} (${l.shape.join("x")})`, l.name, false, l.name === model.defaultCamLayer)));
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
  $("predictions").replaceChildren(...result.predictions.map((p) => {
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
    bar.style.width = `${Math.max(1, 160 * p.probability)}px`;
    item.append(label, value, bar);
    return item;
  }));
  show("classification", true);
  const summary = `${result.model} v${result.version} on ${result.executionProvider}: ${result.timings.totalMs.toFixed(1)} ms`;
  await explain(model, {}, signal, summary);
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
    text.textContent = `${d.label} ${(100 * d.score).toFixed(1)}% at (${Math.round(d.box.x)}, ${Math.round(d.box.y)}) ` +
      `${Math.round(d.box.width)}x${Math.round(d.box.height)}`;
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

function useFile(file) {
  if (!file) return;
  if (current?.url) URL.revokeObjectURL(current.url);
  current = { file, url: URL.createObjectURL(file), imageId: null, model: null };
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
