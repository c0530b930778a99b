/* Swordnet live event page: candidate streams appear and change state without a reload, and
 * staff confirm and list the selected matched stream with one key.
 *
 * Every few seconds it reads the event (feed health), its streams and its timeline from the
 * REST API (/api/v1/live/..., with the session cookie) and rebuilds the stream table, keeping
 * the selected stream selected. j/k select the next/previous stream; y confirms and lists the
 * selected one (a POST to /live/{event}/streams/{stream}/confirm-and-list with the session's
 * X-CSRF-Token). Crawled text (URLs, site names) is only ever set with textContent.
 */
(function () {
  "use strict";

  var root = document.getElementById("live-event");
  if (!root) {
    return;
  }
  var EVERY_MS = 3000;
  var eventId = root.dataset.event;
  var api = root.dataset.api;
  var csrf = root.dataset.csrf;
  var readonly = root.dataset.readonly === "1";
  var rows = document.getElementById("stream-rows");
  var statusLine = document.getElementById("status-line");
  var selectedId = null;
  var busy = false;

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status-line" + (kind ? " " + kind : "");
  }

  function when(value) {
    return value ? String(value).slice(0, 19).replace("T", " ") + " UTC" : "—";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return "—";
    }
    var whole = Math.round(seconds);
    if (whole < 60) {
      return whole + " s";
    }
    if (whole < 3600) {
      return Math.floor(whole / 60) + " min " + (whole % 60) + " s";
    }
    return Math.floor(whole / 3600) + " h " + Math.floor((whole % 3600) / 60) + " min";
  }

  function number(value) {
    return value === null || value === undefined ? "—" : String(Number(value.toPrecision(6)));
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (text !== null) {
      td.textContent = text;
    }
    if (className) {
      td.className = className;
    }
    row.appendChild(td);
    return td;
  }

  function link(url) {
    if (url && /^https?:\/\//i.test(url)) {
      var a = document.createElement("a");
      a.href = url;
      a.className = "ext";
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      a.textContent = url;
      return a;
    }
    return document.createTextNode(url || "—");
  }

  function badge(state, prefix) {
    var span = document.createElement("span");
    span.className = "badge " + prefix + state;
    span.textContent = state;
    return span;
  }

  function streamRow(s) {
    var row = document.createElement("tr");
    row.className = "stream";
    row.dataset.id = String(s.id);
    row.dataset.state = s.state;
    var first = cell(row, "#" + s.id);
    var url = document.createElement("div");
    url.className = "small muted url";
    url.textContent = s.url;
    first.appendChild(url);
    cell(row, null).appendChild(badge(s.state, "live-"));
    cell(row, null, "small wrap").appendChild(link(s.page_url));
    cell(row, s.site);
    cell(row, duration(s.delay_s));
    cell(row, number(s.score));
    cell(row, duration(s.to_match_s));
    cell(row, duration(s.to_list_s));
    var last = cell(row, (s.last_outcome || "not yet").replace(/_/g, " "), "small");
    if (s.last_checked_at) {
      var at = document.createElement("div");
      at.className = "muted";
      at.textContent = when(s.last_checked_at);
      last.appendChild(at);
    }
    var action = cell(row, null);
    if (!readonly && s.state === "matched") {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "primary";
      button.dataset.action = "confirm";
      button.textContent = "Confirm and list";
      action.appendChild(button);
    }
    return row;
  }

  function streamRows() {
    return Array.prototype.slice.call(rows.querySelectorAll("tr.stream"));
  }

  function select(id) {
    selectedId = id;
    streamRows().forEach(function (row) {
      var on = row.dataset.id === id;
      row.classList.toggle("current", on);
      row.setAttribute("aria-selected", on ? "true" : "false");
      if (on) {
        row.scrollIntoView({ block: "nearest" });
      }
    });
  }

  function move(step) {
    var all = streamRows();
    if (!all.length) {
      say("No candidate streams yet.", "warn");
      return;
    }
    var at = -1;
    all.forEach(function (row, i) {
      if (row.dataset.id === selectedId) {
        at = i;
      }
    });
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1)
      : Math.max(0, Math.min(all.length - 1, at + step));
    select(all[next].dataset.id);
    var row = all[next];
    say("Stream " + row.dataset.id + " · " + row.dataset.state + " · " + (next + 1) + " of " +
        all.length + (row.dataset.state === "matched" && !readonly ? " — y to confirm and list" : ""));
  }

  function showStreams(items) {
    var fresh = document.createDocumentFragment();
    items.forEach(function (s) {
      fresh.appendChild(streamRow(s));
    });
    if (!items.length) {
      var none = document.createElement("tr");
      none.className = "none";
      cell(none, "No candidate streams yet.", "muted").colSpan = 10;
      fresh.appendChild(none);
    }
    rows.replaceChildren(fresh);
    if (selectedId !== null) {
      select(selectedId);
    }
  }

  function showFeed(ev) {
    var feed = ev.feed;
    ["feed-state", "feed-badge"].forEach(function (id) {
      var element = document.getElementById(id);
      element.textContent = (id === "feed-badge" ? "feed " : "") + feed.state;
      element.className = "badge feed-" + feed.state;
    });
    document.getElementById("feed-last-segment").textContent = when(feed.last_segment_at);
    document.getElementById("feed-checked").textContent = when(feed.checked_at);
    document.getElementById("feed-error").textContent = feed.error || "—";
    var gaps = document.getElementById("feed-gaps");
    var list = document.createDocumentFragment();
    feed.gaps.forEach(function (gap) {
      var item = document.createElement("li");
      item.textContent = when(gap.started_at) + " to " +
        (gap.ended_at ? when(gap.ended_at) : "now (still down)") + ": " + gap.reason;
      list.appendChild(item);
    });
    if (!feed.gaps.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "None.";
      list.appendChild(none);
    }
    gaps.replaceChildren(list);
  }

  function showTimeline(entries) {
    var list = document.createDocumentFragment();
    entries.forEach(function (entry) {
      var item = document.createElement("li");
      item.className = "tl-" + entry.kind;
      var at = document.createElement("time");
      at.textContent = when(entry.at);
      item.appendChild(at);
      item.appendChild(document.createTextNode(" " + entry.text));
      list.appendChild(item);
    });
    document.getElementById("timeline-entries").replaceChildren(list);
  }

  function getJson(path) {
    return fetch(api + path, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(path + " answered " + response.status);
        }
        return response.json();
      });
  }

  function refresh() {
    return Promise.all([
      getJson("/events/" + eventId),
      getJson("/events/" + eventId + "/streams?limit=500"),
      getJson("/events/" + eventId + "/timeline")
    ]).then(function (data) {
      showFeed(data[0]);
      showStreams(data[1].items);
      showTimeline(data[2]);
    });
  }

  function poll() {
    (busy ? Promise.resolve() : refresh()).then(function () {
      window.setTimeout(poll, EVERY_MS);
    }, function (error) {
      say("Could not refresh the streams (" + error.message + "); retrying.", "warn");
      window.setTimeout(poll, EVERY_MS * 3);
    });
  }

  function confirmAndList() {
    if (readonly) {
      say("Read-only: confirming and listing is staff work.", "warn");
      return;
    }
    var row = rows.querySelector("tr.stream.current");
    if (!row) {
      say("Select a matched stream with j/k first.", "warn");
      return;
    }
    var id = row.dataset.id;
    if (row.dataset.state !== "matched") {
      say("Stream " + id + " is " + row.dataset.state + ": only a matched stream can be listed.", "warn");
      return;
    }
    busy = true;
    say("Stream " + id + ": confirming and listing…");
    fetch("/live/" + eventId + "/streams/" + id + "/confirm-and-list", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          throw new Error(typeof data.detail === "string" ? data.detail
            : response.status + " " + response.statusText);
        }
        return data;
      });
    }).then(function (data) {
      var text = "Stream " + id + " " + data.stream.state + ": " +
        (data.listed.length ? data.listed.join(", ") : "nothing listed");
      if (data.held_back.length) {
        text += " · held back (shared infrastructure): " + data.held_back.join(", ");
      }
      say(text, "ok");
      return refresh();
    }).catch(function (error) {
      say("Stream " + id + " not listed: " + error.message, "error");
    }).then(function () {
      busy = false;
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName))) {
      return;
    }
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      move(event.key === "j" ? 1 : -1);
    } else if (event.key === "y" && !busy) {
      event.preventDefault();
      confirmAndList();
    }
  });

  rows.addEventListener("click", function (event) {
    var row = event.target.closest("tr.stream");
    if (!row) {
      return;
    }
    select(row.dataset.id);
    if (event.target.closest("[data-action=confirm]")) {
      event.preventDefault();
      confirmAndList();
    }
  });

  // Buttons the page was served with post a form; with the script, they act in place.
  rows.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      select(form.closest("tr.stream").dataset.id);
      confirmAndList();
    });
  });

  poll();
}());
