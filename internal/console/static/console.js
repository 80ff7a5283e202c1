// galmirror console: live events (Server-Sent Events) and the "/" search key.
"use strict";
document.addEventListener("keydown", function (e) {
  var q = document.getElementById("q");
  if (e.key === "/" && q && document.activeElement.tagName !== "INPUT" && document.activeElement.tagName !== "SELECT") {
    e.preventDefault(); q.focus();
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var list = document.getElementById("events"), state = document.getElementById("live-state");
  if (!list || list.dataset.off || !window.EventSource) return;
  var es = new EventSource(list.dataset.src);
  es.onopen = function () { state.textContent = "Connected: new events appear here as the service writes them."; };
  es.onerror = function () { state.textContent = "Live events interrupted; retrying…"; };
  es.addEventListener("end", function () { es.close(); state.textContent = "The service ended the stream."; });
  es.onmessage = function (m) {
    var e = JSON.parse(m.data), li = document.createElement("li");
    li.className = "ev lv-" + e.level;
    li.textContent = e.time + "  " + e.id + "  " + e.level + "  " + (e.tenant ? e.tenant + ": " : "") + e.message;
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 100) list.removeChild(list.lastChild);
  };
});
