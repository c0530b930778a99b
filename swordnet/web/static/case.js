/* Case page: download the case's evidence bundle from the cases API.
 *
 * The export is a POST (it is recorded in the case's custody log), and the API wants the
 * session's CSRF token in the X-CSRF-Token header, which a plain form cannot send: so the
 * form is sent with fetch and the zip it returns is saved as a file.
 */
(function () {
  "use strict";

  var form = document.getElementById("bundle-form");
  if (!form) {
    return;
  }
  var status = document.getElementById("bundle-status");
  var button = form.querySelector("button");

  function filename(response) {
    var header = response.headers.get("Content-Disposition") || "";
    var match = /filename="?([^";]+)"?/.exec(header);
    return match ? match[1] : "evidence-bundle.zip";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    status.textContent = "Exporting the bundle…";
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": form.dataset.csrf, Accept: "application/zip" }
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          throw new Error(typeof data.detail === "string" ? data.detail : response.status + " " + response.statusText);
        });
      }
      var name = filename(response);
      return response.blob().then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = name;
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
        status.textContent = "Saved " + name + " (" + Math.round(blob.size / 1024) + " KB); the export is in the timeline after a reload.";
      });
    }).catch(function (error) {
      status.textContent = "Export failed: " + error.message;
    }).then(function () {
      button.disabled = false;
    });
  });
})();
