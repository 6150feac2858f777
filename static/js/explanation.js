// Poll the explanation's status while the worker computes it, then reload to show it.
(function () {
  "use strict";
  var section = document.getElementById("explanation");
  if (!section) return;
  var status = section.getAttribute("data-status");
  if (status !== "pending" && status !== "running") return;
  var url = section.getAttribute("data-status-url");
  var delay = 1000;
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { status: status }; })
      .then(function (body) {
        if (body.status === "done" || body.status === "failed") {
          window.location.reload();
        } else {
          delay = Math.min(delay * 1.3, 5000);
          window.setTimeout(poll, delay);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, delay);
})();
