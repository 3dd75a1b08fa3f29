// Progressive enhancement for the consent toggles: the same forms work without
// JavaScript; with it, a toggle calls the API and the page updates in place.
(function () {
  "use strict";
  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function fmt(iso) {
    return new Date(iso).toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  var EVENT_WORDS = { given: "Turned on", withdrawn: "Turned off", lapsed: "Paused: the notice changed", revoked_by_support: "Turned off by support" };

  function renderHistory(entries, labels) {
    var body = document.querySelector("#consent-history tbody");
    if (!body) return;
    body.textContent = "";
    entries.forEach(function (e) {
      var tr = document.createElement("tr");
      [fmt(e.created_at), labels[e.purpose] || e.purpose, EVENT_WORDS[e.event] || e.event, "v" + e.notice_version, e.method].forEach(function (text) {
        var td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      });
      var td = document.createElement("td"); var a = document.createElement("a");
      a.href = "/api/v1/consent/receipts/" + e.id + "/"; a.textContent = "signed receipt"; td.appendChild(a); tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  function labelsFromPage() {
    var labels = {};
    document.querySelectorAll(".toggle-row").forEach(function (row) {
      labels[row.dataset.purpose] = row.querySelector("h3").textContent;
    });
    return labels;
  }

  function renderRow(row, state) {
    var line = row.querySelector(".state-line");
    var button = row.querySelector("button[name=action]");
    line.textContent = "";
    var badge = document.createElement("span");
    badge.className = "badge " + (state.granted ? "on" : "off");
    badge.dataset.state = state.granted ? "on" : "off";
    badge.textContent = state.granted ? "On" : "Off";
    line.appendChild(badge);
    if (state.granted) line.appendChild(document.createTextNode(" since " + fmt(state.since) + " · notice version " + state.notice_version));
    button.value = state.granted ? "off" : "on";
    button.textContent = state.granted ? "Turn off" : "Turn on";
    button.className = state.granted ? "secondary" : "";
    button.setAttribute("aria-label", (state.granted ? "Turn off " : "Turn on ") + state.label);
  }

  function showMessage(text, isError) {
    var list = document.querySelector(".messages");
    if (!list) {
      list = document.createElement("ul"); list.className = "messages"; list.setAttribute("role", "status");
      document.querySelector("main").prepend(list);
    }
    list.textContent = "";
    var li = document.createElement("li"); li.textContent = text; if (isError) li.className = "msg-error";
    list.appendChild(li);
  }

  document.querySelectorAll("form.consent-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[name=action]");
      var purpose = form.querySelector("input[name=purpose]").value;
      var turnOn = button.value === "on";
      button.disabled = true;
      fetch("/api/v1/consent/" + encodeURIComponent(purpose) + "/", {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form), "Accept": "application/json" },
        body: JSON.stringify({ granted: turnOn, notice_version: form.querySelector("input[name=notice_version]").value })
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (!result.ok) throw new Error(result.body.error ? result.body.error.message : "The change was not saved.");
        // Other purposes can change too (turning one off ends those built on it).
        return fetch("/api/v1/consent/", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (all) {
          all.purposes.forEach(function (state) {
            var row = document.querySelector('.toggle-row[data-purpose="' + state.purpose + '"]');
            if (row) renderRow(row, state);
          });
          var label = result.body.purpose.label;
          showMessage(turnOn ? label + " is on." : label + " is off. Access stopped at once.", false);
          return fetch("/api/v1/consent/history/", { credentials: "same-origin" });
        });
      }).then(function (r) { return r.json(); }).then(function (page) {
        renderHistory(page.results, labelsFromPage());
      }).catch(function (error) {
        showMessage(error.message, true);
      }).finally(function () { button.disabled = false; });
    });
  });
})();
