// The layerwise playground page: plain JavaScript, no library, no build step.
// It sends commands over one WebSocket and draws the frames the server's lw.Session
// produces. The configuration lives in the URL hash, so a link repeats a run.
"use strict";

(() => {
  const DEFAULTS = {
    dataset: "circle", noise: 10, train_ratio: 50, points: 500, classes: 3, batch_size: 10,
    seed: 1, features: ["x1", "x2"], layers: [4, 2], activations: ["tanh", "tanh"],
    loss: "auto", optimizer: "adam", lr: 0.03, weight_decay: 0, dropout: 0,
  };
  const FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin x1", "sin x2"];
  const FEATURE_LABELS = {
    "x1": "x\u2081", "x2": "x\u2082", "x1^2": "x\u2081\u00b2", "x2^2": "x\u2082\u00b2",
    "x1x2": "x\u2081x\u2082", "sin x1": "sin x\u2081", "sin x2": "sin x\u2082",
  };
  const FEATURE_FUNCTIONS = {
    "x1": (a, b) => a, "x2": (a, b) => b, "x1^2": (a, b) => a * a, "x2^2": (a, b) => b * b,
    "x1x2": (a, b) => a * b, "sin x1": (a, b) => Math.sin(a), "sin x2": (a, b) => Math.sin(b),
  };
  const INTS = ["noise", "train_ratio", "points", "classes", "batch_size", "seed"];
  const FLOATS = ["lr", "weight_decay", "dropout"];
  const LRS = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
  const DECAYS = [0, 0.00001, 0.0001, 0.001, 0.01, 0.1];
  const DROPOUTS = [0, 0.1, 0.2, 0.3, 0.5];
  const ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear", "leaky_relu"];
  const REGRESSION = ["plane", "multigauss", "function2d"];
  const MAX_LAYERS = 8, MAX_NEURONS = 16, MAX_UPLOAD = 1000000;
  const CLASS_COLORS = [[245, 147, 34], [8, 119, 189], [44, 160, 44], [214, 39, 40],
    [148, 103, 189], [140, 86, 75], [227, 119, 194], [23, 190, 207]];
  const NEG = CLASS_COLORS[0], POS = CLASS_COLORS[1], MID = [232, 234, 235];
  const LIGHT = 0.7;  // the heatmap's strongest shade, lighter than the points drawn on it

  const $ = (id) => document.getElementById(id);
  let socket = null;
  let config = fromHash();
  let frame = null, data = null, renderPending = false, pending = 0, nextId = 0;
  let lastStatus = "", lastError = "", structure = "";
  const acks = [];

  // -- the configuration in the URL hash -------------------------------------------

  function fromHash() {
    const result = JSON.parse(JSON.stringify(DEFAULTS));
    const params = new URLSearchParams(location.hash.slice(1));
    for (const [key, value] of params) {
      if (INTS.includes(key)) result[key] = parseInt(value, 10);
      else if (FLOATS.includes(key)) result[key] = parseFloat(value);
      else if (key === "features" || key === "activations") {
        result[key] = value ? value.split(",") : [];
      } else if (key === "layers") {
        result[key] = value ? value.split(",").map((v) => parseInt(v, 10)) : [];
      } else if (key in DEFAULTS) result[key] = value;
    }
    return result;  // the server validates it; a bad link gets a message, not a crash
  }

  function toHash() {
    const params = new URLSearchParams();
    for (const key of Object.keys(DEFAULTS)) {
      const value = config[key];
      params.set(key, Array.isArray(value) ? value.join(",") : String(value));
    }
    history.replaceState(null, "", "#" + params.toString());
  }

  // -- the socket ------------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/ws`);
    socket.onopen = () => command({ type: "config", config });
    socket.onmessage = (event) => receive(JSON.parse(event.data));
    socket.onclose = () => showStatus(
      "Disconnected from the playground server: reload the page to start again.", true);
  }

  function command(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    message.id = ++nextId;
    if (message.type === "config" || message.type === "lr") pending += 1;
    socket.send(JSON.stringify(message));
  }

  function sendConfig() {
    toHash();
    command({ type: "config", config });
  }

  function receive(message) {
    if (message.type === "frame") {
      frame = message;
      if (pending === 0 && JSON.stringify(message.config) !== JSON.stringify(config)) {
        config = JSON.parse(JSON.stringify(message.config));  // the server's run is the truth
        syncControls();
        toHash();
      }
      schedule();
    } else if (message.type === "data") {
      data = message;
      schedule();
    } else if (message.type === "ack") {
      acks.push(message);
      if (message.command === "config" || message.command === "lr") {
        pending = Math.max(0, pending - 1);
      }
    } else if (message.type === "error") {
      lastError = message.message;
      showStatus(message.message, true);
    } else if (message.type === "download") {
      download(message);
    }
  }

  function download(message) {
    let blob;
    if (message.text !== undefined) {
      blob = new Blob([message.text], { type: message.mime });
    } else {
      const bytes = Uint8Array.from(atob(message.data), (c) => c.charCodeAt(0));
      blob = new Blob([bytes], { type: message.mime });
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = message.filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  function showStatus(text, error) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(error));
  }

  // -- controls --------------------------------------------------------------------

  function fillSelect(select, values, format) {
    select.innerHTML = "";
    for (const value of values) {
      const option = document.createElement("option");
      option.value = String(value);
      option.textContent = format ? format(value) : String(value);
      select.appendChild(option);
    }
  }

  function setSelect(select, value, format) {
    const text = String(value);
    if (![...select.options].some((o) => o.value === text)) {
      const option = document.createElement("option");
      option.value = text;
      option.textContent = format ? format(value) : text;
      select.appendChild(option);
    }
    select.value = text;
  }

  function syncControls() {
    setSelect($("dataset"), config.dataset);
    setSelect($("lr"), config.lr);
    setSelect($("optimizer"), config.optimizer);
    setSelect($("loss"), config.loss);
    setSelect($("weight_decay"), config.weight_decay);
    setSelect($("dropout"), config.dropout);
    for (const key of ["train_ratio", "noise", "batch_size", "points", "classes"]) {
      $(key).value = config[key];
      $(key + "_out").textContent = config[key];
    }
    $("seed").textContent = config.seed;
    const count = config.layers.length;
    $("layer-count").textContent = `${count} hidden layer${count === 1 ? "" : "s"}`;
    structure = "";  // rebuild the network column
    schedule();
  }

  function setup() {
    fillSelect($("lr"), LRS);
    fillSelect($("weight_decay"), DECAYS);
    fillSelect($("dropout"), DROPOUTS);
    syncControls();
    toHash();
    $("play").onclick = () => {
      const playing = frame ? frame.playing : false;
      command({ type: playing ? "pause" : "play" });
      if (frame) frame.playing = !playing;  // at once; the next frame confirms
      renderTransport();
    };
    $("step").onclick = () => command({ type: "step" });
    $("reset").onclick = () => command({ type: "reset" });
    $("checkpoint").onclick = () => command({ type: "checkpoint" });
    $("rollback").onclick = () => command({ type: "rollback" });
    $("potential").onclick = () => command({ type: "potential", n: 100 });
    $("export-model").onclick = () => command({ type: "export_model" });
    $("export-code").onclick = () => command({ type: "export_code" });
    $("lr").onchange = () => {
      config.lr = parseFloat($("lr").value);
      toHash();
      command({ type: "lr", lr: config.lr });
    };
    $("dataset").onchange = () => {
      const before = REGRESSION.includes(config.dataset);
      config.dataset = $("dataset").value;
      if (REGRESSION.includes(config.dataset) !== before) config.loss = "auto";
      syncControls();
      sendConfig();
    };
    for (const key of ["optimizer", "loss"]) {
      $(key).onchange = () => { config[key] = $(key).value; sendConfig(); };
    }
    for (const key of ["weight_decay", "dropout"]) {
      $(key).onchange = () => { config[key] = parseFloat($(key).value); sendConfig(); };
    }
    for (const key of ["train_ratio", "noise", "batch_size", "points", "classes"]) {
      $(key).oninput = () => { $(key + "_out").textContent = $(key).value; };
      $(key).onchange = () => { config[key] = parseInt($(key).value, 10); sendConfig(); };
    }
    $("regenerate").onclick = () => {
      config.seed = crypto.getRandomValues(new Uint32Array(1))[0] % 2147483647;
      syncControls();
      sendConfig();
    };
    $("add-layer").onclick = () => {
      if (config.layers.length >= MAX_LAYERS) return;
      config.layers.push(2);
      config.activations.push(config.activations[config.activations.length - 1] || "tanh");
      syncControls();
      sendConfig();
    };
    $("remove-layer").onclick = () => {
      if (!config.layers.length) return;
      config.layers.pop();
      config.activations.pop();
      syncControls();
      sendConfig();
    };
    $("upload").onchange = async () => {
      const file = $("upload").files[0];
      $("upload").value = "";
      if (!file) return;
      if (file.size > MAX_UPLOAD) {
        showStatus(`${file.name} has ${file.size.toLocaleString()} bytes; the playground ` +
          "takes CSV files of at most 1 MB.", true);
        return;
      }
      command({ type: "upload", name: file.name.slice(0, 200), text: await file.text() });
    };
    for (const id of ["smooth", "raw", "show-test"]) $(id).onchange = schedule;
    window.addEventListener("hashchange", () => { config = fromHash(); syncControls(); sendConfig(); });
    window.addEventListener("resize", () => { structure = ""; schedule(); });
  }

  // -- drawing ---------------------------------------------------------------------

  function schedule() {
    if (!renderPending) {
      renderPending = true;
      requestAnimationFrame(render);
    }
  }

  function decode(base64) {
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function mix(a, b, t) {
    return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * t));
  }

  function diverging(v) {  // v in [0, 1]: orange, grey at 0.5, blue
    const t = v * 2 - 1;
    return mix(MID, t < 0 ? NEG : POS, Math.min(Math.abs(t), 1));
  }

  function rgb(c) { return `rgb(${c[0]},${c[1]},${c[2]})`; }

  function formatLoss(v) {
    if (v === null || v === undefined) return "-";
    return v >= 0.001 ? v.toFixed(3) : v.toExponential(2);
  }

  function render() {
    renderPending = false;
    if (!frame) return;
    renderTransport();
    $("step-count").textContent = String(frame.step);
    $("epoch-count").textContent = String(frame.epoch);
    $("loss-train").textContent = formatLoss(frame.train.loss);
    $("loss-test").textContent = formatLoss(frame.test.loss);
    const accuracy = (r) => (r.accuracy === undefined ? "" : `accuracy ${(100 * r.accuracy).toFixed(1)} %`);
    $("acc-train").textContent = accuracy(frame.train);
    $("acc-test").textContent = accuracy(frame.test);
    $("rollback").disabled = !frame.checkpoint;
    if (frame.status !== lastStatus) {
      lastStatus = frame.status;
      showStatus(frame.status, frame.status === lastError ||
        frame.status.startsWith("Training diverged") || frame.status.startsWith("Internal error"));
    }
    const warnings = $("warnings");
    if (warnings.childElementCount !== frame.warnings.length) {
      warnings.innerHTML = "";
      for (const text of frame.warnings) {
        const item = document.createElement("li");
        item.textContent = text;
        warnings.appendChild(item);
      }
    }
    drawHeatmap();
    drawCurves();
    drawNetwork();
  }

  function renderTransport() {
    const playing = frame && frame.playing;
    $("play").innerHTML = playing ? "&#10074;&#10074;" : "&#9654;";
    $("play").classList.toggle("playing", Boolean(playing));
  }

  const heatImage = document.createElement("canvas");

  function drawHeatmap() {
    const map = frame.heatmap, size = map.size, canvas = $("heatmap");
    const ctx = canvas.getContext("2d");
    heatImage.width = heatImage.height = size;
    const small = heatImage.getContext("2d");
    const image = small.createImageData(size, size);
    const values = decode(map.values);
    const classes = map.classes ? decode(map.classes) : null;
    const k = data ? data.classes : 2;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const source = i * size + j, target = ((size - 1 - i) * size + j) * 4;  // x2 upwards
        let color;
        if (classes) {
          const floor = 1 / k, confidence = values[source] / 255;
          color = mix(MID, CLASS_COLORS[classes[source] % 8],
            LIGHT * Math.max(0, (confidence - floor) / (1 - floor)));
        } else {
          color = diverging(0.5 + (values[source] / 255 - 0.5) * LIGHT);
        }
        image.data.set([color[0], color[1], color[2], 255], target);
      }
    }
    small.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatImage, 0, 0, canvas.width, canvas.height);
    drawAxes(ctx, canvas, map.domain);
    if (data && data.version === frame.data_version) {
      drawPoints(ctx, canvas, data.train, false);
      if ($("show-test").checked) drawPoints(ctx, canvas, data.test, true);
    }
    drawColorbar(map);
  }

  function drawAxes(ctx, canvas, domain) {
    const [low, high] = domain;
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.font = "10px sans-serif";
    ctx.fillText(String(low), 3, canvas.height - 4);
    ctx.fillText(String(high), canvas.width - 26, canvas.height - 4);
    ctx.fillText(String(high), 3, 11);
  }

  function drawPoints(ctx, canvas, points, test) {
    const [low, high] = data.domain, span = high - low;
    const n = points.y.length;
    let yLow = 0, yHigh = 1;
    if (data.task === "regression") {
      yLow = Math.min(...data.train.y);
      yHigh = Math.max(...data.train.y);
    }
    for (let i = 0; i < n; i++) {
      const x = ((points.x[2 * i] - low) / span) * canvas.width;
      const y = canvas.height - ((points.x[2 * i + 1] - low) / span) * canvas.height;
      const label = points.y[i];
      const color = data.task === "regression"
        ? diverging((label - yLow) / ((yHigh - yLow) || 1)) : CLASS_COLORS[label % 8];
      ctx.beginPath();
      ctx.arc(x, y, 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = rgb(color);
      ctx.fill();
      ctx.lineWidth = test ? 1.6 : 1;
      ctx.strokeStyle = test ? "#000" : "#fff";
      ctx.stroke();
    }
  }

  function drawColorbar(map) {
    const canvas = $("colorbar"), ctx = canvas.getContext("2d");
    if (map.classes) {  // a swatch per class
      const k = data ? data.classes : 3, width = canvas.width / k;
      for (let c = 0; c < k; c++) {
        ctx.fillStyle = rgb(CLASS_COLORS[c % 8]);
        ctx.fillRect(c * width, 0, width - 2, canvas.height);
      }
    } else for (let x = 0; x < canvas.width; x++) {
      ctx.fillStyle = rgb(diverging(0.5 + (x / (canvas.width - 1) - 0.5) * LIGHT));
      ctx.fillRect(x, 0, 1, canvas.height);
    }
    let label;
    if (map.kind === "regression") label = `${map.lo.toFixed(2)} \u2026 ${map.hi.toFixed(2)}`;
    else if (map.classes) label = `${data ? data.classes : ""} classes, shade = confidence`;
    else label = "P(class 1): 0 \u2026 1";
    $("colorbar-label").textContent = label;
  }

  function smooth(values, alpha) {
    const result = [];
    let state = null;
    for (const v of values) {
      if (v === null) { result.push(null); continue; }
      state = state === null ? v : state + alpha * (v - state);
      result.push(state);
    }
    return result;
  }

  function drawCurves() {
    const h = frame.history;
    drawChart($("curves"), h, [["loss", "#6b7a8f"], ["val_loss", "#111"]], true,
      "The loss per epoch appears here (log scale).");
    const accuracy = $("curves-accuracy");
    accuracy.hidden = !h.accuracy;
    if (h.accuracy) {
      drawChart(accuracy, h, [["accuracy", "#6b7a8f"], ["val_accuracy", "#111"]], false, "");
    }
  }

  // One chart of per-epoch series: log10 of the values (loss) or the values (accuracy).
  function drawChart(canvas, h, series, log, empty) {
    const ctx = canvas.getContext("2d"), epochs = h.epoch;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!epochs.length) {
      ctx.fillStyle = "#888";
      ctx.font = "11px sans-serif";
      ctx.fillText(empty, 8, 20);
      return;
    }
    const scale = (values) => values.map((v) => (v === null ? null : log ? (v > 0 ? Math.log10(v) : null) : v));
    const all = [].concat(...series.map(([key]) => scale(h[key] || []))).filter((v) => v !== null);
    if (!all.length) return;
    let low = Math.min(...all), high = Math.max(...all);
    if (!log) { low = Math.min(low, 0.5); high = 1; }
    if (high - low < 0.1) { low -= 0.05; high += 0.05; }
    const first = epochs[0], last = epochs[epochs.length - 1];
    const X = (e) => 34 + ((e - first) / ((last - first) || 1)) * (canvas.width - 40);
    const Y = (v) => 6 + ((high - v) / (high - low)) * (canvas.height - 20);
    ctx.strokeStyle = "#ddd";
    ctx.fillStyle = "#777";
    ctx.font = "9px sans-serif";
    const ticks = log ? [] : [low, high];
    if (log) for (let d = Math.ceil(low); d <= Math.floor(high); d++) ticks.push(d);
    for (const end of log ? [low, high] : []) {  // the ends, where no decade line is near
      if (ticks.every((t) => Math.abs(Y(t) - Y(end)) > 12)) ticks.push(end);
    }
    for (const t of ticks) {
      ctx.beginPath(); ctx.moveTo(34, Y(t)); ctx.lineTo(canvas.width, Y(t)); ctx.stroke();
      const label = log ? (Number.isInteger(t) ? `1e${t}` : Math.pow(10, t).toPrecision(2))
        : `${Math.round(100 * t)}%`;
      ctx.fillText(label, 2, Y(t) + 3);
    }
    ctx.fillText(log ? `epoch ${first}` : "accuracy", 34, canvas.height - 2);
    ctx.fillText(String(last), canvas.width - 30, canvas.height - 2);
    const line = (values, color, width, alpha) => {
      ctx.strokeStyle = color; ctx.lineWidth = width; ctx.globalAlpha = alpha;
      ctx.beginPath();
      let drawing = false;
      values.forEach((v, i) => {
        if (v === null) { drawing = false; return; }
        if (drawing) ctx.lineTo(X(epochs[i]), Y(v)); else ctx.moveTo(X(epochs[i]), Y(v));
        drawing = true;
      });
      ctx.stroke();
      ctx.globalAlpha = 1;
    };
    for (const [key, color] of series) {
      const values = scale(h[key] || []);
      if ($("raw").checked) line(values, color, 1, $("smooth").checked ? 0.35 : 1);
      if ($("smooth").checked) line(smooth(values, 0.15), color, 2, 1);
    }
  }

  // -- the network column ----------------------------------------------------------

  function thumbnail(canvas, values) {  // 0..255 around 128, x2 upwards
    const side = Math.round(Math.sqrt(values.length));
    canvas.width = canvas.height = side;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(side, side);
    for (let i = 0; i < side; i++) {
      for (let j = 0; j < side; j++) {
        const c = diverging(values[i * side + j] / 255);
        image.data.set([c[0], c[1], c[2], 255], ((side - 1 - i) * side + j) * 4);
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  function featureValues(name, domain) {  // the feature over the plane, as 0..255
    const side = 16, [low, high] = domain, values = new Float64Array(side * side);
    let scale = 0;
    for (let i = 0; i < side; i++) {
      for (let j = 0; j < side; j++) {
        const a = low + ((high - low) * j) / (side - 1), b = low + ((high - low) * i) / (side - 1);
        const v = FEATURE_FUNCTIONS[name](a, b);
        values[i * side + j] = v;
        scale = Math.max(scale, Math.abs(v));
      }
    }
    return values.map((v) => Math.round((v / (scale || 1) + 1) * 127.5));
  }

  function node(parent, title) {
    const box = document.createElement("div");
    box.className = "node";
    box.title = title;
    const canvas = document.createElement("canvas");
    box.appendChild(canvas);
    parent.appendChild(box);
    return box;
  }

  function buildNetwork() {  // the network of the frame's run; the buttons change config
    const shown = frame.config, layers = $("layers");
    layers.innerHTML = "";
    const inputs = document.createElement("div");
    inputs.className = "layer inputs";
    inputs.innerHTML = '<div class="layer-head">features</div>';
    for (const name of FEATURES) {
      const box = node(inputs, `${name}: click to use it or not`);
      box.dataset.feature = name;
      box.classList.toggle("off", !shown.features.includes(name));
      const label = document.createElement("span");
      label.className = "feature-label";
      label.textContent = FEATURE_LABELS[name];
      box.appendChild(label);
      box.onclick = () => {
        const on = config.features.includes(name);
        if (on && config.features.length === 1) return;  // the network needs an input
        const chosen = on ? config.features.filter((f) => f !== name) : [...config.features, name];
        config.features = FEATURES.filter((f) => chosen.includes(f));
        syncControls();
        sendConfig();
      };
      const canvas = box.querySelector("canvas");
      thumbnail(canvas, featureValues(name, frame.heatmap.domain));
    }
    layers.appendChild(inputs);
    shown.layers.forEach((units, index) => {
      const column = document.createElement("div");
      column.className = "layer";
      const head = document.createElement("div");
      head.className = "layer-head";
      const minus = document.createElement("button");
      minus.textContent = "\u2212";
      minus.title = "One neuron fewer";
      minus.onclick = () => { if (units > 1) { config.layers[index] -= 1; syncControls(); sendConfig(); } };
      const plus = document.createElement("button");
      plus.textContent = "+";
      plus.title = "One neuron more";
      plus.onclick = () => {
        if (units < MAX_NEURONS) { config.layers[index] += 1; syncControls(); sendConfig(); }
      };
      const count = document.createElement("div");
      count.textContent = `${units} neuron${units === 1 ? "" : "s"}`;
      const select = document.createElement("select");
      select.title = "Activation of this layer";
      fillSelect(select, ACTIVATIONS, (a) => a.replace("_", " "));
      select.value = shown.activations[index];
      select.onchange = () => { config.activations[index] = select.value; sendConfig(); };
      const diag = document.createElement("div");
      diag.className = "diag";
      diag.id = `diag-${index}`;
      const buttons = document.createElement("div");
      buttons.append(plus, minus);
      head.append(buttons, count, select, diag);
      column.appendChild(head);
      for (let j = 0; j < units; j++) node(column, `layer ${index + 1}, neuron ${j + 1}`);
      layers.appendChild(column);
    });
    const out = document.createElement("div");
    out.className = "layer outputs";
    out.innerHTML = '<div class="layer-head">output</div>';
    const outputs = frame.weights.length ? frame.weights[frame.weights.length - 1].b.length : 1;
    for (let j = 0; j < outputs; j++) {
      const box = node(out, `output ${j + 1}`);
      box.classList.add("out");
    }
    layers.appendChild(out);
  }

  function drawNetwork() {
    const shown = frame.config;
    const signature = JSON.stringify([shown.features, shown.layers, shown.activations,
      frame.weights.map((w) => w.b.length), frame.heatmap.domain]);
    if (signature !== structure) {
      structure = signature;
      buildNetwork();
    }
    const columns = [...$("layers").children];
    frame.layers.forEach((layer, index) => {
      const boxes = columns[index + 1].querySelectorAll(".node canvas");
      layer.thumbs.forEach((thumb, j) => { if (boxes[j]) thumbnail(boxes[j], decode(thumb.values)); });
    });
    for (const row of frame.diagnostics) {
      const cell = $(`diag-${row.layer - 1}`);
      if (!cell) continue;
      const parts = [];
      if (row.dead !== undefined && row.dead !== null) parts.push(`dead ${(100 * row.dead).toFixed(0)}%`);
      if (row.saturated !== undefined && row.saturated !== null) {
        parts.push(`sat. ${(100 * row.saturated).toFixed(0)}%`);
      }
      if (row.grad_norm !== undefined && row.grad_norm !== null) {
        parts.push(`|\u2207W| ${row.grad_norm.toExponential(1)}`);
      }
      cell.textContent = parts.join(" \u00b7 ");
      cell.title = "lw.Diagnostics: dead ReLUs, saturated units, gradient norm of the weights";
    }
    drawLinks(columns);
  }

  function drawLinks(columns) {
    const svg = $("links"), net = $("net").getBoundingClientRect();
    svg.setAttribute("width", net.width);
    svg.setAttribute("height", net.height);
    const centres = (column, selector) => [...column.querySelectorAll(selector)].map((el) => {
      const r = el.getBoundingClientRect();
      return { left: r.left - net.left, right: r.right - net.left, y: r.top - net.top + r.height / 2 };
    });
    const stages = [centres(columns[0], ".node:not(.off)")];
    for (let c = 1; c < columns.length; c++) stages.push(centres(columns[c], ".node"));
    const paths = [];
    frame.weights.forEach((layer, k) => {
      const from = stages[k], to = stages[k + 1];
      if (!from || !to) return;
      layer.W.forEach((row, i) => row.forEach((w, j) => {
        if (!from[i] || !to[j]) return;
        const a = from[i], b = to[j], dx = (b.left - a.right) / 2;
        const width = Math.min(0.4 + Math.abs(w) * 1.2, 6).toFixed(2);
        const color = w >= 0 ? rgb(POS) : rgb(NEG);
        paths.push(`<path d="M${a.right},${a.y} C${a.right + dx},${a.y} ${b.left - dx},${b.y} ` +
          `${b.left},${b.y}" fill="none" stroke="${color}" stroke-width="${width}" stroke-opacity="0.7">` +
          `<title>w = ${w}</title></path>`);
      }));
    });
    svg.innerHTML = paths.join("");
  }

  // -- for tests (and the curious): the state the page draws ------------------------

  window.playground = {
    get frame() { return frame; },
    get data() { return data; },
    get config() { return JSON.parse(JSON.stringify(config)); },
    acks,
    heatmap() { return frame ? Array.from(decode(frame.heatmap.values)) : null; },
  };

  setup();
  connect();
})();
