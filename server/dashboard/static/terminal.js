/* The web terminal (templates/terminal.html): xterm.js on the agent's reconnecting PTY.

   The websocket is /api/v2/workspaceagents/{id}/pty of this page's origin (the session
   cookie authenticates it), or of the workspace proxy the region menu chose (see ptyUrl),
   with the page's reconnect ID, so a dropped connection, or a
   reload, comes back to the same shell and the agent replays what it showed meanwhile.
   Frames as Coder's: JSON {data} or {height, width} in, the terminal's bytes out. A
   refusal (close code 4000 + HTTP status) other than "agent not connected" (4502) is
   shown and not retried; anything else is retried with a growing delay. Keys typed while
   no connection is open (the page still connecting, or reconnecting) are kept, up to
   UNSENT_MAX characters, and sent once one is. */
"use strict";

const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 10000;
const AGENT_UNAVAILABLE = 4502;
const UNSENT_MAX = 65536;
/* Every ANSI colour at least 4.5:1 against the black background (xterm's own red and
   blue are not). */
const THEME = {
  background: "#000000", foreground: "#e5e5e5", cursor: "#e5e5e5",
  black: "#000000", red: "#f14c4c", green: "#23d18b", yellow: "#f5f543", blue: "#3b8eea",
  magenta: "#d670d6", cyan: "#29b8db", white: "#e5e5e5",
  brightBlack: "#8a8a8a", brightRed: "#f47272", brightGreen: "#2ee59d", brightYellow: "#f8f87a",
  brightBlue: "#6aa9f0", brightMagenta: "#e08ee0", brightCyan: "#4fcbe8", brightWhite: "#ffffff",
};

/* xterm.js writes its cell sizes and theme into <style> elements, which this page's
   Content-Security-Policy (style-src 'self': nothing inline) keeps from applying. Their
   rules are copied into constructed stylesheets, which the policy allows (CSSOM). */
function adoptInlineStyles(root) {
  const sheets = new Map();
  const copy = (style) => {
    let sheet = sheets.get(style);
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheets.set(style, sheet);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
    sheet.replaceSync(style.textContent);
  };
  new MutationObserver((records) => {
    for (const record of records) {
      const target = record.target.nodeType === Node.TEXT_NODE ? record.target.parentNode : record.target;
      if (target instanceof HTMLStyleElement) copy(target);
      for (const node of record.addedNodes) {
        if (node instanceof HTMLStyleElement) copy(node);
        else if (node instanceof Element) node.querySelectorAll("style").forEach(copy);
      }
    }
  }).observe(root, {childList: true, subtree: true, characterData: true});
}

/* The workspace proxy of the region the menu chose (regions.js), once it has chosen; "" for
   coderd itself (or a page without the menu). */
function proxyUrl() {
  const menu = document.getElementById("region");
  if (!menu || menu.dataset.measured === "true") {
    return Promise.resolve(menu ? menu.dataset.proxyUrl || "" : "");
  }
  return new Promise((resolve) => document.addEventListener(
    "region-chosen", () => resolve(menu.dataset.proxyUrl || ""), {once: true}));
}

/* The websocket's URL: at coderd, authenticated by the session cookie; at a proxy, which
   has no session of this origin, with a token coderd signs for this very terminal there
   (Coder's reconnecting-pty-signed-token), asked for at each connection. */
async function ptyUrl(agentId, reconnect, term) {
  const query = new URLSearchParams({reconnect, width: term.cols, height: term.rows});
  const path = `/api/v2/workspaceagents/${agentId}/pty?${query}`;
  const proxy = await proxyUrl();
  if (!proxy) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${path}`;
  }
  const url = proxy.replace(/^http/, "ws") + path;
  const answer = await fetch("/api/v2/applications/reconnecting-pty-signed-token", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({url, agentID: agentId})});
  const body = await answer.json();
  if (!answer.ok) { throw new Error(body.message || `status ${answer.status}`); }
  return url + "&coder_signed_app_token_23db1dde=" + encodeURIComponent(body.signed_token);
}

function keepReconnectIdInUrl(reconnect) {
  const url = new URL(location.href);
  url.searchParams.set("reconnect", reconnect);
  history.replaceState(history.state, "", url);
}

function start() {
  const box = document.getElementById("terminal");
  const status = document.getElementById("terminal-status");
  const {agentId, reconnect} = box.dataset;
  adoptInlineStyles(document.documentElement);
  const term = new Terminal({
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', 'Liberation Mono', monospace",
    fontSize: 14, scrollback: 10000, theme: THEME,
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  keepReconnectIdInUrl(reconnect);

  let socket = null;
  let retryMs = RETRY_FIRST_MS;
  let unsent = "";
  const open = () => socket && socket.readyState === WebSocket.OPEN;
  const send = (message) => {
    if (open()) socket.send(JSON.stringify(message));
  };
  const type = (data) => {
    if (open()) send({data});
    else unsent = (unsent + data).slice(0, UNSENT_MAX);
  };

  const retry = () => {
    status.textContent = "Reconnecting...";
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };

  const connect = async () => {
    let url;
    try {
      url = await ptyUrl(agentId, reconnect, term);
    } catch {
      retry();
      return;
    }
    socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      status.textContent = "";
      retryMs = RETRY_FIRST_MS;
      term.reset();  // the agent replays the screen's recent output
      send({height: term.rows, width: term.cols});
      if (unsent) send({data: unsent});
      unsent = "";
    };
    socket.onmessage = (event) => {
      term.write(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
    };
    socket.onclose = (event) => {
      if (event.code >= 4000 && event.code < 5000 && event.code !== AGENT_UNAVAILABLE) {
        status.textContent = event.reason || `The terminal was refused (${event.code - 4000}).`;
        return;
      }
      retry();
    };
  };

  term.onData(type);
  term.onResize(({cols, rows}) => send({height: rows, width: cols}));
  let pending = false;
  window.addEventListener("resize", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fit.fit(); });
  });
  connect();
  term.focus();
}

start();
