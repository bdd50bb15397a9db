// RffService demo page: choose a model, upload or drop an image, see top-k classes with a CAM overlay, or detections.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];
let current = null; // { file, imageId }
// Answers can arrive out of order (a new choice while the last request runs): only the latest of each kind is shown.
let runSequence = 0;
let explainSequence = 0;

async function problem(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || body.error || response.statusText;
  } catch {
    return response.statusText;
  }
}

function show(id, visible) { $(id).hidden = !visible; }

function setError(message) {
  $("error").textContent = message || "";
  show("error", Boolean(message));
}

function selectedModel() { return models.find((m) => m.name === $("model").value); }

async function loadModels() {
  const response = await fetch("/models");
  models = (await response.json()).models.filter((m) => m.state === "ready");
  $("model").replaceChildren(...models.map((m) => new Option(`${m.name} (${m.task})`, m.name)));
  onModelChanged();
}

function onModelChanged() {
  const model = selectedModel();
  if (!model) return;
  $("model-info").textContent = `${model.labels.length} classes, input ${model.input.width}x${model.input.height}`;
  const classification = model.task === "classification";
  show("cam-controls", classification);
  const layers = (model.camLayers || []).filter((l) => !l.refused).reverse();
  $("cam-layer").replaceChildren(...layers.map((l) => new Option(`${l.name} (${l.shape.join("x")})`, l.name, false, l.name === model.defaultCamLayer)));
  onLayerChanged();
  show("classification", false);
  show("detection", false);
  if (current) run();
}

// Only the methods the chosen layer supports can be picked (CAM needs a linear readout after the layer).
function onLayerChanged() {
  const model = selectedModel();
  const layer = (model?.camLayers || []).find((l) => l.name === $("cam-layer").value);
  for (const option of $("cam-method").options) option.disabled = Boolean(layer) && !layer.methods.includes(option.value);
  if ($("cam-method").selectedOptions[0]?.disabled) $("cam-method").value = layer.methods[0];
}

async function run() {
  const model = selectedModel();
  if (!current || !model) return;
  setError("");
  $("status").textContent = "Running…";
  const form = new FormData();
  form.append("image", current.file);
  const sequence = ++runSequence;
  try {
    if (model.task === "classification") await classify(model, form, sequence);
    else await detect(model, form, sequence);
  } catch (e) {
    if (sequence !== runSequence) return;
    setError(String(e.message || e));
    $("status").textContent = "";
  }
}

async function classify(model, form, sequence) {
  const response = await fetch(`/classify?model=${encodeURIComponent(model.name)}&topK=5`, { method: "POST", body: form });
  if (!response.ok) throw new Error(await problem(response));
  const result = await response.json();
  if (sequence !== runSequence) return;
  current.imageId = result.imageId;
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
    bar.style.width = `${Math.max(1, 160 * p.probability)}px`;
    item.append(label, value, bar);
    return item;
  }));
  show("classification", true);
  $("status").textContent = `${result.model} v${result.version} on ${result.executionProvider}: ${result.timings.totalMs.toFixed(1)} ms`;
  await explain(model);
}

async function explain(model) {
  if (!current?.imageId) return;
  const query = new URLSearchParams({
    imageId: current.imageId, model: model.name, method: $("cam-method").value, layer: $("cam-layer").value, faithfulness: "false",
  });
  const sequence = ++explainSequence;
  const response = await fetch(`/cam?${query}`);
  if (sequence !== explainSequence) return;
  if (!response.ok) throw new Error(await problem(response));
  const cam = await response.json();
  if (sequence !== explainSequence) return;
  $("cam-overlay").src = `data:image/png;base64,${cam.overlay}`;
  $("cam-caption").textContent = `${cam.method} on ${cam.layer} for "${cam.target.label}" (${cam.timings.totalMs.toFixed(1)} ms)`;
}

async function detect(model, form, sequence) {
  const response = await fetch(`/detect?model=${encodeURIComponent(model.name)}&overlay=true`, { method: "POST", body: form });
  if (!response.ok) throw new Error(await problem(response));
  const result = await response.json();
  if (sequence !== runSequence) return;
  current.imageId = result.imageId;
  $("detection-overlay").src = `data:image/png;base64,${result.overlay}`;
  $("detections").replaceChildren(...result.detections.map((d) => {
    const item = document.createElement("li");
    item.className = "detection";
    item.textContent = `${d.label} ${(100 * d.score).toFixed(1)}% at (${d.box.x}, ${d.box.y}) ${d.box.width}x${d.box.height}`;
    return item;
  }));
  show("detection", true);
  $("status").textContent = `${result.detections.length} detection(s), ${result.timings.totalMs.toFixed(1)} ms`;
}

function useFile(file) {
  if (!file) return;
  current = { file, imageId: null };
  $("preview").src = URL.createObjectURL(file);
  show("preview", true);
  run();
}

$("model").addEventListener("change", onModelChanged);
$("file").addEventListener("change", (e) => useFile(e.target.files[0]));
$("cam-layer").addEventListener("change", onLayerChanged);
for (const id of ["cam-method", "cam-layer"]) $(id).addEventListener("change", () => explain(selectedModel()).catch((e) => setError(e.message)));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); useFile(e.dataTransfer.files[0]); });

loadModels().catch((e) => setError(`Could not list the models: ${e.message}`));
