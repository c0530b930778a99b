/* Swordnet review queue: one hit at a time (or a grid), decided from the keyboard.
 *
 * j/k next/previous, y confirm (Y: even if quarantined), n reject, u undo, x select for
 * bulk, g grid, Enter open (grid), ? help, Esc close help. Decisions go to the REST API
 * (/api/v1/hits/...) with the session cookie and the X-CSRF-Token header; the page is
 * updated in place. Crawled text is only ever set with textContent, never as HTML.
 * Keys are handled one after another (each waits for the previous decision to finish).
 */
(function () {
  "use strict";

  var root = document.getElementById("review");
  if (!root) {
    return;
  }
  root.classList.add("js");

  var API = "/api/v1/hits";
  var PAGE_EXCERPT = 900;
  var readonly = root.dataset.readonly === "1";
  var csrf = root.dataset.csrf;
  var queue = document.getElementById("queue");
  var statusLine = document.getElementById("status-line");
  var position = document.getElementById("position");
  var help = document.getElementById("help");
  var hits = Array.prototype.slice.call(queue.querySelectorAll("article.hit"));
  var selected = new Set();
  var decisions = []; // ids decided on this page, most recent last (what u undoes)
  var current = 0;
  var chain = Promise.resolve();

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status-line" + (kind ? " " + kind : "");
  }

  function isGrid() {
    return queue.classList.contains("grid");
  }

  function indexOf(id) {
    for (var i = 0; i < hits.length; i++) {
      if (hits[i].dataset.id === String(id)) {
        return i;
      }
    }
    return -1;
  }

  function show(index, scroll) {
    if (!hits.length) {
      position.textContent = "No hits";
      return;
    }
    current = Math.max(0, Math.min(hits.length - 1, index));
    hits.forEach(function (hit, i) {
      hit.classList.toggle("current", i === current);
    });
    var hit = hits[current];
    position.textContent = "Hit " + hit.dataset.id + " · " + (current + 1) + " of " + hits.length;
    fill(hit);
    if (current + 1 < hits.length) {
      fill(hits[current + 1]);
    }
    if (scroll !== false) {
      if (isGrid()) {
        hit.scrollIntoView({ block: "nearest" });
      } else {
        window.scrollTo(0, Math.min(window.scrollY, queue.offsetTop - 8));
      }
    }
  }

  // --- text loaded on demand (as text, never HTML) ------------------------------------------
  function getText(url, asJson) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: asJson ? "application/json" : "text/plain" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("not available (" + response.status + ")");
        }
        return asJson ? response.json().then(function (data) { return data.text; }) : response.text();
      });
  }

  function put(element, promise, limit) {
    promise.then(function (text) {
      text = (text || "").trim();
      if (limit && text.length > limit) {
        text = text.slice(0, limit) + " …";
      }
      element.textContent = text || "(no text)";
    }, function (error) {
      element.textContent = "(" + error.message + ")";
    });
  }

  function fill(hit) {
    if (hit.dataset.filled === "1") {
      return;
    }
    hit.dataset.filled = "1";
    var id = hit.dataset.id;
    var pageText = null;
    var pageTextOnce = function () {
      pageText = pageText || getText(API + "/" + id + "/page-text", true);
      return pageText;
    };
    hit.querySelectorAll("[data-fill]").forEach(function (element) {
      var what = element.dataset.fill;
      if (what === "page-excerpt") {
        put(element, pageTextOnce(), PAGE_EXCERPT);
      } else if (what === "page-text") {
        put(element, pageTextOnce());
      } else if (what === "video-strips") {
        fillStrips(element, id);
      } else if (what === "software-files") {
        fillFiles(element, id);
      } else if (what === "work-text") {
        var near = hit.dataset.near ? "?near=" + encodeURIComponent(hit.dataset.near) : "";
        put(element, getText("/works/" + hit.dataset.work + "/excerpt" + near, false));
      }
    });
    // a sound match's spectrograms and excerpts are made on request: only for hits shown
    hit.querySelectorAll("[data-src]").forEach(function (element) {
      element.src = element.dataset.src;
    });
  }

  // --- video and software comparisons (JSON; images are re-encoded data: URLs) -----------
  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("not available (" + response.status + ")");
        }
        return response.json();
      });
  }

  function fillStrips(section, id) {
    var status = section.querySelector("[data-role=strip-status]");
    getJson("/review/hits/" + id + "/video-strips").then(function (data) {
      ["work", "copy"].forEach(function (side) {
        var list = section.querySelector("[data-row=" + side + "] .strip");
        data[side].forEach(function (frame) {
          var item = document.createElement("li");
          if (frame.src) {
            var img = document.createElement("img");
            img.src = frame.src;
            img.alt = frame.alt;
            item.appendChild(img);
          } else {
            item.classList.add("missing");
          }
          var time = document.createElement("span");
          time.className = "strip-time";
          time.dataset.t = frame.t;
          time.textContent = frame.clock;
          item.appendChild(time);
          list.appendChild(item);
        });
      });
      var notes = [data.work_note, data.copy_note].filter(Boolean);
      status.textContent = notes.length ? notes.join(" ")
        : "Copy time = work time − " + data.offset_s + " s.";
    }, function (error) {
      status.textContent = "(" + error.message + ")";
    });
  }

  function fillFiles(section, id) {
    var status = section.querySelector("[data-role=files-status]");
    getJson("/review/hits/" + id + "/software-files").then(function (data) {
      ["work", "copy"].forEach(function (side) {
        var cells = section.querySelectorAll("[data-side=" + side + "] td");
        var file = data[side];
        if (!file) {
          cells[0].textContent = "—";
          return;
        }
        cells[0].textContent = (file.path || "(the whole file)")
          + (file.overlay_ignored ? " (without " + file.overlay_ignored + " appended bytes)" : "");
        cells[1].textContent = file.size === null ? "not recorded" : file.size.toLocaleString("en");
        cells[2].textContent = file.sha256 || "—";
        cells[3].textContent = file.tlsh || "—";
      });
      section.querySelector("[data-role=distance]").textContent =
        (data.identical ? "Identical (same SHA-256). " : "")
        + (data.distance === null ? "TLSH distance: not computable"
          : "TLSH distance " + data.distance) + " (threshold " + data.threshold + ").";
      status.textContent = [data.work_note, data.copy_note].filter(Boolean).join(" ");
    }, function (error) {
      status.textContent = "(" + error.message + ")";
    });
  }
  // --- a sound match whose spectrogram or excerpt cannot be made: say why -------------------
  queue.addEventListener("error", function (event) {
    var element = event.target;
    var figure = element.closest && element.closest("figure[data-sound]");
    if (!figure || figure.dataset.failed === "1") {
      return;
    }
    figure.dataset.failed = "1";
    var problem = figure.querySelector(".sound-problem");
    fetch(element.dataset.src, { credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) {
          return "";
        }
        return response.text().then(function (html) { // the console's error page (inert here)
          var said = new DOMParser().parseFromString(html, "text/html").querySelector(".card p");
          return said ? said.textContent : "";
        });
      })
      .catch(function () { return "not available"; })
      .then(function (detail) {
        problem.textContent = "Cannot show this sound: " + (detail || "not available");
        problem.hidden = false;
      });
  }, true);

  // --- the API ------------------------------------------------------------------------------
  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf }
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(API + path, options).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          var detail = data && data.detail;
          if (typeof detail !== "string") {
            detail = detail ? JSON.stringify(detail) : response.status + " " + response.statusText;
          }
          if (response.status === 401) {
            detail = "your session has ended; reload the page and sign in again";
          }
          var error = new Error(detail);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function label(status) {
    return status.replace(/_/g, " ");
  }

  function update(hit, data) {
    hit.dataset.status = data.status;
    var badge = hit.querySelector("[data-role=status]");
    badge.textContent = label(data.status);
    badge.className = "badge status-" + data.status;
    var reviewed = hit.querySelector("[data-role=reviewed]");
    if (reviewed) {
      reviewed.textContent = data.reviewer
        ? data.reviewer + ", " + String(data.reviewed_at || "").replace("T", " ").slice(0, 16) + " UTC"
        : "—";
    }
    var caseCell = hit.querySelector("[data-role=case]");
    if (caseCell) {
      caseCell.textContent = "";
      if (data.case_id) {
        var link = document.createElement("a");
        link.href = "/cases/" + encodeURIComponent(data.case_id);
        link.textContent = "case " + data.case_id;
        caseCell.appendChild(link);
      } else {
        caseCell.textContent = "—";
      }
    }
  }

  function nextPending(from) {
    for (var i = from + 1; i < hits.length; i++) {
      if (hits[i].dataset.status === "pending") {
        return i;
      }
    }
    return -1;
  }

  function advance() {
    var next = nextPending(current);
    if (next >= 0) {
      show(next);
      return "";
    }
    if (current + 1 < hits.length) {
      show(current + 1);
      return "";
    }
    return " · no more pending hits on this page";
  }

  function refuseReadonly() {
    say("Read-only: decisions are made by staff.", "warn");
    return Promise.resolve();
  }

  function decide(action, acceptQuarantined) {
    if (readonly) {
      return refuseReadonly();
    }
    var hit = hits[current];
    if (!hit) {
      return Promise.resolve();
    }
    var id = hit.dataset.id;
    var body = action === "confirm" ? { accept_quarantined: !!acceptQuarantined } : undefined;
    say("Hit " + id + ": " + (action === "confirm" ? "confirming" : "rejecting") + "…");
    return api("POST", "/" + id + "/" + action, body).then(function (data) {
      update(hit, data);
      decisions.push(id);
      var rest = advance();
      say("Hit " + id + " " + label(data.status) + " — u to undo" + rest, "ok");
    }, function (error) {
      var hint = "";
      if (action === "confirm" && hit.dataset.quarantined === "1" && error.status === 409) {
        hint = " — press Y (shift+y) to confirm it anyway";
      }
      say("Hit " + id + " not " + (action === "confirm" ? "confirmed" : "rejected") + ": " +
          error.message + hint, "error");
    });
  }

  function undo() {
    if (readonly) {
      return refuseReadonly();
    }
    var id = null;
    while (decisions.length) {
      var candidate = decisions.pop();
      var at = indexOf(candidate);
      if (at >= 0 && hits[at].dataset.status !== "pending") {
        id = candidate;
        break;
      }
    }
    if (id === null) {
      var here = hits[current];
      if (!here || here.dataset.status === "pending") {
        say("Nothing to undo: this hit is pending and no decision was made on this page.", "warn");
        return Promise.resolve();
      }
      id = here.dataset.id;
    }
    var hit = hits[indexOf(id)];
    var was = hit.dataset.status;
    return api("POST", "/" + id + "/undo").then(function (data) {
      update(hit, data);
      show(indexOf(id));
      say("Hit " + id + " is " + label(data.status) + " again (" + label(was) + " undone)", "ok");
    }, function (error) {
      say("Hit " + id + " not undone: " + error.message, "error");
    });
  }

  function syncSelection() {
    root.querySelectorAll(".sel-count").forEach(function (element) {
      element.textContent = String(selected.size);
    });
    root.querySelectorAll("[data-action=bulk-confirm], [data-action=bulk-reject]").forEach(function (button) {
      button.disabled = selected.size === 0;
    });
  }

  function toggleSelect() {
    if (readonly) {
      return refuseReadonly();
    }
    var hit = hits[current];
    if (!hit) {
      return Promise.resolve();
    }
    var id = hit.dataset.id;
    if (selected.has(id)) {
      selected.delete(id);
    } else {
      selected.add(id);
    }
    hit.classList.toggle("selected", selected.has(id));
    syncSelection();
    say(selected.size + " hit" + (selected.size === 1 ? "" : "s") + " selected" +
        (selected.size ? " — the bulk buttons confirm or reject them" : ""));
    return Promise.resolve();
  }

  function bulk(action) {
    if (readonly) {
      return refuseReadonly();
    }
    var ids = Array.from(selected);
    if (!ids.length) {
      say("Select hits with x first.", "warn");
      return Promise.resolve();
    }
    say((action === "confirm" ? "Confirming " : "Rejecting ") + ids.length + " hits…");
    return api("POST", "/bulk", { action: action, ids: ids.map(Number) }).then(function (result) {
      var decided = result.decided.map(String);
      return Promise.all(decided.map(function (id) {
        return api("GET", "/" + id).then(function (data) {
          var at = indexOf(id);
          if (at >= 0) {
            update(hits[at], data);
            hits[at].classList.remove("selected");
          }
          selected.delete(id);
          decisions.push(id);
        });
      })).then(function () {
        syncSelection();
        var failed = Object.keys(result.errors || {});
        var text = decided.length + " hit" + (decided.length === 1 ? "" : "s") + " " +
          (action === "confirm" ? "confirmed" : "rejected") + " — u undoes them one by one";
        if (failed.length) {
          text += "; not decided: " + failed.map(function (id) {
            return id + " (" + result.errors[id] + ")";
          }).join("; ");
        }
        say(text, failed.length ? "warn" : "ok");
      });
    }, function (error) {
      say("Bulk " + action + " failed: " + error.message, "error");
    });
  }

  function setGrid(on) {
    queue.classList.toggle("grid", on);
    queue.classList.toggle("single", !on);
    root.dataset.view = on ? "grid" : "single";
    var button = root.querySelector("[data-action=grid]");
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
    var view = document.querySelector(".filters input[name=view]");
    if (view) {
      view.value = on ? "grid" : "single";
    }
    show(current);
  }

  function toggleHelp(open) {
    help.hidden = open === undefined ? !help.hidden : !open;
  }

  var actions = {
    next: function () { show(current + 1); return Promise.resolve(); },
    prev: function () { show(current - 1); return Promise.resolve(); },
    confirm: function () { return decide("confirm", false); },
    "confirm-anyway": function () { return decide("confirm", true); },
    reject: function () { return decide("reject"); },
    undo: undo,
    select: toggleSelect,
    "bulk-confirm": function () { return bulk("confirm"); },
    "bulk-reject": function () { return bulk("reject"); },
    grid: function () { setGrid(!isGrid()); return Promise.resolve(); },
    open: function () { if (isGrid()) { setGrid(false); } return Promise.resolve(); },
    help: function () { toggleHelp(); return Promise.resolve(); },
    close: function () { toggleHelp(false); return Promise.resolve(); }
  };
  var keys = {
    j: "next", k: "prev", y: "confirm", Y: "confirm-anyway", n: "reject", u: "undo",
    x: "select", g: "grid", Enter: "open", "?": "help", Escape: "close"
  };

  function run(name) {
    chain = chain.then(function () { return actions[name](); }).catch(function (error) {
      say(String(error && error.message || error), "error");
    });
    return chain;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) {
      return;
    }
    var name = keys[event.key];
    if (!name) {
      return;
    }
    if (!help.hidden && name !== "help" && name !== "close") {
      return;
    }
    if (name === "open" && (!isGrid() || (target && /^(A|BUTTON)$/.test(target.tagName)))) {
      return;
    }
    event.preventDefault();
    run(name);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-action]");
    if (button && actions[button.dataset.action]) {
      event.preventDefault();
      button.blur();
      run(button.dataset.action);
      return;
    }
    var card = event.target.closest("article.hit");
    if (card && isGrid() && !event.target.closest("a")) {
      show(hits.indexOf(card), false);
    }
  });
  help.addEventListener("click", function (event) {
    if (event.target === help) {
      toggleHelp(false);
    }
  });
  queue.addEventListener("dblclick", function (event) {
    var card = event.target.closest("article.hit");
    if (card && isGrid()) {
      show(hits.indexOf(card), false);
      setGrid(false);
    }
  });

  // Start on the hit asked for, else the first pending one.
  var start = root.dataset.focus ? indexOf(root.dataset.focus) : -1;
  if (start < 0) {
    start = hits.length && hits[0].dataset.status === "pending" ? 0 : Math.max(nextPending(-1), 0);
  }
  queue.classList.toggle("single", root.dataset.view !== "grid");
  show(start, false);
  syncSelection();
})();
