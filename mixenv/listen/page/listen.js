// A MUSHRA page (ITU-R BS.1534-3) for `mixenv listen`: plays test.json's pages and POSTs the ratings to /submit.
//
// Every listener hears the pages, and the conditions on each page, in an order of their own, drawn from a generator
// seeded by their id (the same id gets the same order back after a reload). All buffers of a page are decoded up
// front and started together, looping, each through its own gain: switching only moves the gains, so it is instant
// and keeps the position in the music.
"use strict";

(() => {
  const LABELS = "ABCDEFGHIJK";
  const FADE_SECONDS = 0.005; // a gain change this fast is instant to the ear and does not click

  const $ = (id) => document.getElementById(id);

  /** 32-bit FNV-1a hash of a string: the seed of a listener's orders. */
  function hash(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return h >>> 0;
  }

  /** mulberry32: a small seeded generator of numbers in [0, 1). */
  function generator(seed) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** A shuffled copy of items (Fisher-Yates). */
  function shuffled(items, random) {
    const copy = items.slice();
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
  }

  /** Plays one page's buffers in sync: all looping from one start time, only the selected one audible. */
  class Player {
    constructor(context) {
      this.context = context;
      this.buffers = new Map();
      this.voices = new Map();
      this.selected = null;
      this.startTime = 0;
    }

    async load(files) {
      this.stop();
      this.buffers = new Map();
      await Promise.all(
        [...files].map(async ([id, url]) => {
          const response = await fetch(url);
          if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
          this.buffers.set(id, await this.context.decodeAudioData(await response.arrayBuffer()));
        }),
      );
    }

    select(id) {
      if (this.voices.size === 0) this.start();
      const now = this.context.currentTime;
      for (const [voiceId, voice] of this.voices) {
        voice.gain.gain.setTargetAtTime(voiceId === id ? 1 : 0, now, FADE_SECONDS);
      }
      this.selected = id;
    }

    start() {
      const when = this.context.currentTime + 0.05;
      for (const [id, buffer] of this.buffers) {
        const source = this.context.createBufferSource();
        source.buffer = buffer;
        source.loop = true;
        const gain = this.context.createGain();
        gain.gain.value = 0;
        source.connect(gain).connect(this.context.destination);
        source.start(when);
        this.voices.set(id, { source, gain });
      }
      this.startTime = when;
    }

    stop() {
      for (const { source, gain } of this.voices.values()) {
        source.stop();
        source.disconnect();
        gain.disconnect();
      }
      this.voices.clear();
      this.selected = null;
    }

    /** Where the loop is, from 0 to 1 (0 when stopped). */
    position() {
      const buffer = this.buffers.values().next().value;
      if (this.voices.size === 0 || !buffer) return 0;
      const elapsed = Math.max(0, this.context.currentTime - this.startTime);
      return (elapsed % buffer.duration) / buffer.duration;
    }
  }

  const state = { test: null, listener: "", pages: [], index: 0, ratings: {}, player: null };

  async function loadTest() {
    const start = $("start");
    try {
      const response = await fetch("test.json");
      if (!response.ok) throw new Error(`test.json: HTTP ${response.status}`);
      state.test = await response.json();
      start.textContent = "Start";
      start.disabled = false;
      $("intro-status").textContent = `${state.test.pages.length} pages, about a minute each.`;
    } catch (error) {
      start.textContent = "Start";
      showError($("intro-status"), `The test could not be loaded (${error.message}). Is the server running?`);
    }
  }

  function showError(element, message) {
    element.textContent = message;
    element.classList.add("error");
  }

  async function begin() {
    const listener = $("listener").value.trim();
    if (!listener) {
      showError($("intro-status"), "Please enter your name or listener id first.");
      $("listener").focus();
      return;
    }
    state.listener = listener;
    const random = generator(hash(listener));
    state.pages = shuffled(state.test.pages, random).map((page) => ({
      ...page,
      conditions: shuffled(page.conditions, random),
    }));
    state.player = new Player(new AudioContext());
    await state.player.context.resume();
    window.addEventListener("beforeunload", warnBeforeLeaving);
    $("intro").hidden = true;
    $("page").hidden = false;
    showPage(0);
    requestAnimationFrame(drawPosition);
  }

  function warnBeforeLeaving(event) {
    event.preventDefault();
    event.returnValue = "";
  }

  async function showPage(index) {
    state.index = index;
    const page = state.pages[index];
    const last = index === state.pages.length - 1;
    $("page-title").textContent = `Page ${index + 1} of ${state.pages.length}`;
    $("next").textContent = last ? "Submit" : "Next";
    $("next").disabled = true;
    const list = $("conditions");
    list.replaceChildren();
    page.conditions.forEach((condition, i) => list.append(conditionRow(condition.id, LABELS[i], i + 1)));
    const status = $("page-status");
    status.classList.remove("error");
    status.textContent = "Loading the audio...";
    setPlayButtonsDisabled(true);
    const files = new Map([["reference", page.reference], ...page.conditions.map((c) => [c.id, c.file])]);
    try {
      await state.player.load(files);
    } catch (error) {
      showError(status, `The audio could not be loaded (${error.message}); reload the page to try again.`);
      return;
    }
    setPlayButtonsDisabled(false);
    status.textContent = "Move every slider to rate each version.";
    document.body.dataset.loaded = page.id;
  }

  function conditionRow(id, label, key) {
    const row = document.createElement("div");
    row.className = "condition";
    row.dataset.condition = id;
    const play = document.createElement("button");
    play.type = "button";
    play.className = "play";
    play.dataset.play = id;
    play.textContent = label;
    play.title = `Play ${label} (key ${key})`;
    play.addEventListener("click", () => select(id));
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = "100";
    slider.step = "1";
    slider.value = "0";
    slider.setAttribute("aria-label", `rating of ${label}`);
    const value = document.createElement("output");
    value.textContent = "–";
    slider.addEventListener("input", () => {
      rate(id, Number(slider.value));
      value.textContent = slider.value;
    });
    row.append(play, slider, value);
    return row;
  }

  function rate(id, value) {
    const page = state.pages[state.index];
    state.ratings[page.id] = { ...state.ratings[page.id], [id]: value };
    const missing = page.conditions.length - Object.keys(state.ratings[page.id]).length;
    $("next").disabled = missing > 0;
    $("page-status").textContent = missing > 0 ? `${missing} still to rate.` : "All rated: you can still change any.";
  }

  function setPlayButtonsDisabled(disabled) {
    for (const button of document.querySelectorAll("button.play")) button.disabled = disabled;
  }

  function select(id) {
    state.player.select(id);
    for (const button of document.querySelectorAll("button.play")) {
      button.setAttribute("aria-pressed", String(button.dataset.play === id));
    }
    document.body.dataset.playing = id;
  }

  function stop() {
    state.player.stop();
    for (const button of document.querySelectorAll("button.play")) button.setAttribute("aria-pressed", "false");
    document.body.dataset.playing = "";
  }

  function drawPosition() {
    $("position").value = state.player.position();
    requestAnimationFrame(drawPosition);
  }

  async function next() {
    if (state.index < state.pages.length - 1) {
      stop();
      showPage(state.index + 1);
      return;
    }
    const button = $("next");
    const status = $("page-status");
    button.disabled = true;
    status.classList.remove("error");
    status.textContent = "Sending your ratings...";
    try {
      const response = await fetch("submit", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ listener: state.listener, ratings: state.ratings }),
      });
      const reply = await response.json();
      if (!response.ok) throw new Error(reply.error || `HTTP ${response.status}`);
    } catch (error) {
      showError(status, `Your ratings were not saved: ${error.message}`);
      button.disabled = false;
      return;
    }
    stop();
    window.removeEventListener("beforeunload", warnBeforeLeaving);
    $("page").hidden = true;
    $("done").hidden = false;
    document.body.dataset.submitted = "true";
  }

  function onKey(event) {
    if ($("page").hidden || event.target.matches("input[type=text]")) return;
    const page = state.pages[state.index];
    if (event.key === " ") {
      event.preventDefault();
      stop();
    } else if (event.key === "r" || event.key === "R") {
      select("reference");
    } else if (/^[1-9]$/.test(event.key) && Number(event.key) <= page.conditions.length) {
      select(page.conditions[Number(event.key) - 1].id);
    }
  }

  $("start").addEventListener("click", begin);
  $("listener").addEventListener("keydown", (event) => event.key === "Enter" && begin());
  $("play-reference").addEventListener("click", () => select("reference"));
  $("stop").addEventListener("click", stop);
  $("next").addEventListener("click", next);
  document.addEventListener("keydown", onKey);
  loadTest();
})();
