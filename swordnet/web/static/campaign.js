/* Swordnet campaign page: the campaign's hits appear as they are found, without a reload.
 *
 * Polls the campaign's hits feed (GET /api/v1/campaigns/{id}/hits?after=<last id>, with the
 * session cookie) every few seconds while the campaign is planned or running, and adds a row
 * per new hit with a link to review it. Crawled text is only ever set with textContent.
 */
(function () {
  "use strict";

  var live = document.getElementById("live");
  if (!live) {
    return;
  }
  var feed = live.dataset.feed;
  var rows = document.getElementById("live-hits");
  var status = document.getElementById("live-status");
  var badge = document.getElementById("campaign-state");
  var EVERY_MS = 3000;
  var last = 0;
  var seen = 0;

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function add(hit) {
    var row = document.createElement("tr");
    row.className = "live-hit";
    row.dataset.id = String(hit.id);
    cell(row, "#" + hit.id);
    cell(row, hit.work_title);
    cell(row, hit.site);
    cell(row, hit.url).className = "small wrap";
    cell(row, hit.status.replace(/_/g, " "));
    cell(row, hit.created_at.slice(0, 16).replace("T", " ") + " UTC");
    var link = document.createElement("a");
    link.href = hit.review_url;
    link.textContent = "Review";
    link.className = "button review-hit";
    cell(row, "").appendChild(link);
    rows.appendChild(row);
  }

  function poll() {
    fetch(feed + "?after=" + last, {credentials: "same-origin",
                                    headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the hits feed answered " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        data.items.forEach(function (hit) {
          add(hit);
          last = Math.max(last, hit.id);
          seen += 1;
        });
        if (badge && badge.textContent !== data.state) {
          badge.textContent = data.state;
          badge.className = "badge state-" + data.state;
        }
        var active = data.state === "planned" || data.state === "running";
        status.textContent = (seen ? seen + " hit" + (seen === 1 ? "" : "s") + " so far. "
                                   : "No hits yet. ")
          + (active ? "Watching for new hits…" : "This campaign is " + data.state + ".");
        if (active || data.items.length) {
          window.setTimeout(poll, data.items.length ? 0 : EVERY_MS);
        }
      })
      .catch(function (error) {
        status.textContent = "Could not load new hits (" + error.message + "); retrying.";
        window.setTimeout(poll, EVERY_MS * 3);
      });
  }

  poll();
}());
