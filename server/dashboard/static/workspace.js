// The workspace page's live parts (no inline script: loaded with defer after htmx).
// - The workspace's /watch stream (server-sent events): on each change of what the page
//   shows, htmx fetches the page's live part again ("workspace-changed").
// - A running build's log: followed over the API's websocket, a line per message.
// - A form the page marks data-autosubmit (the start after a restart's stop) is sent.
(function () {
  "use strict";

  // What the page shows of the workspace's JSON: a change elsewhere (an agent's heartbeat
  // times) fetches nothing.
  function shown(ws) {
    var b = ws.latest_build;
    return JSON.stringify([b.id, b.status, b.job.status, ws.outdated, ws.template_active_version_id,
      b.resources.map(function (r) {
        return r.agents.map(function (a) {
          return [a.id, a.status, a.lifecycle_state, a.logs_length,
                  a.apps.map(function (app) { return app.health; })];
        });
      })]);
  }

  // What the live part shows now: the workspace it was rendered from.
  function rendered() {
    var part = document.getElementById("ws-rendered");
    return part ? shown(JSON.parse(part.getAttribute("data-workspace"))) : null;
  }

  // Each value of the stream is compared with what the part shows (not with the previous
  // value: a change between the page's render and the stream's start counts). A change
  // that came while the part was being fetched is fetched again once it is in, unless
  // the fetch already showed it.
  function watch() {
    var live = document.getElementById("workspace-live");
    if (!live || !window.EventSource) { return; }
    var latest = null, received = 0, fetchedAt = 0;
    var refresh = function () { htmx.trigger(document.body, "workspace-changed"); };
    live.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt === live) { fetchedAt = received; }
    });
    live.addEventListener("htmx:afterSettle", function (event) {
      if (event.detail.elt === live && received > fetchedAt && latest !== rendered()) { refresh(); }
    });
    var source = new EventSource(live.getAttribute("data-watch"));
    source.addEventListener("data", function (event) {
      latest = shown(JSON.parse(event.data));
      received += 1;
      if (latest !== rendered()) { refresh(); }
    });
  }

  function followLogs(root) {
    root.querySelectorAll("pre[data-follow]:not([data-following])").forEach(function (pre) {
      pre.setAttribute("data-following", "");
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + pre.getAttribute("data-follow"));
      socket.addEventListener("message", function (event) {
        var line = JSON.parse(event.data);
        pre.appendChild(document.createTextNode(line.output + "\n"));
        pre.scrollTop = pre.scrollHeight;
      });
      socket.addEventListener("close", function () {
        htmx.trigger(document.body, "workspace-changed");  // the build has ended
      });
    });
  }

  function autosubmit(root) {
    var form = root.querySelector("form[data-autosubmit]");
    if (form) { form.removeAttribute("data-autosubmit"); form.requestSubmit(); }
  }

  function ready(root) { followLogs(root); autosubmit(root); }

  document.body.addEventListener("htmx:afterSettle", function (event) { ready(event.target); });
  watch();
  ready(document);
})();
