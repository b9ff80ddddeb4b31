// The region menu (templates/base.html; server/dashboard/regions.py): each healthy region's
// /latency-check timed at once, the figures shown, the fastest taken unless the viewer chose
// one (kept in localStorage), and the page's path app and port links (data-region-path)
// built on the chosen region's URL, those htmx swaps in later too; the chosen proxy's URL
// is left in the menu's data-proxy-url (terminal.js connects there). Only the URLs coderd
// listed are fetched (the page's policy allows no other), and a redirect is a failure.
(function () {
  "use strict";
  const KEY = "coder.region";
  const AUTO = "auto";
  const TIMEOUT_MS = 5000;
  const latencies = new Map();
  let chosenUrl = "";

  async function measure(url) {
    const target = url + "/latency-check";
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const began = performance.now();
      const answer = await fetch(target, {cache: "no-store", credentials: "omit",
                                          redirect: "error", signal: abort.signal});
      if (!answer.ok) { return null; }
      // With Timing-Allow-Origin the entry has its phases: the connection's set-up left out.
      const entry = performance.getEntriesByName(target, "resource").pop();
      if (entry && entry.requestStart > 0) { return entry.responseStart - entry.requestStart; }
      return performance.now() - began;
    } catch {
      return null;  // unreachable, refused, redirected, or not in time
    } finally {
      clearTimeout(timer);
    }
  }

  function choose(select) {
    const measured = [...select.options].filter((o) => latencies.get(o.value) != null);
    const wanted = measured.find((o) => o.value === select.value);
    if (wanted) { return wanted; }
    return measured.reduce((best, o) =>
      best === null || latencies.get(o.value) < latencies.get(best.value) ? o : best, null);
  }

  function applyLinks(root) {
    if (!chosenUrl) { return; }
    for (const link of root.querySelectorAll("a[data-region-path]")) {
      link.href = chosenUrl + link.dataset.regionPath;
    }
  }

  function apply(select) {
    const region = choose(select);
    const status = document.getElementById("region-status");
    if (region === null) {
      status.textContent = "no region answered";
      return;
    }
    chosenUrl = region.dataset.url;
    select.dataset.chosen = region.value;
    select.dataset.proxyUrl = region.value === "primary" ? "" : chosenUrl;
    status.textContent = select.value === AUTO ? "using " + region.dataset.label : "";
    applyLinks(document);
  }

  async function start() {
    const select = document.getElementById("region");
    if (!select) { return; }
    const remembered = localStorage.getItem(KEY) || AUTO;
    const option = [...select.options].find((o) => o.value === remembered && !o.disabled);
    select.value = option ? remembered : AUTO;
    const regions = [...select.options].filter((o) => o.dataset.url);
    await Promise.all(regions.map(async (o) => {
      o.dataset.label = o.textContent;
      const ms = await measure(o.dataset.url);
      latencies.set(o.value, ms);
      o.dataset.latency = ms == null ? "" : ms.toFixed(1);
      o.textContent = o.dataset.label + (ms == null ? " (unreachable)" : ` (${Math.round(ms)} ms)`);
    }));
    select.addEventListener("change", () => {
      localStorage.setItem(KEY, select.value);
      apply(select);
    });
    apply(select);
    select.dataset.measured = "true";
    document.dispatchEvent(new CustomEvent("region-chosen"));
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", (event) => applyLinks(event.target));
})();
