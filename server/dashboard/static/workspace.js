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

  function watch() {
    var live = document.getElementById("workspace-live");
    if (!live || !window.EventSource) { return; }
    var last = null;  // the first value is the one the page was rendered from
    var source = new EventSource(live.getAttribute("data-watch"));
    source.addEventListener("data", function (event) {
      var now = shown(JSON.parse(event.data));
      if (last !== null && now !== last) { htmx.trigger(document.body, "workspace-changed"); }
      last = now;
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
