// Progressive enhancement for the consent toggles: the same forms work without JavaScript (and a
// destructive turn-off then asks on a page of its own). With it, a toggle calls the API, a destructive
// turn-off asks first in a dialog holding that same page's words, and the choices, "What we hold" and
// the history are redrawn from the server afterwards, so the page shows the new state without a reload.
(function () {
  "use strict";
  var dialog = null;

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
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

  function fetchPage(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("The page could not be loaded. Try again.");
      return r.text();
    }).then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
  }

  // Redraw what the change touched from the server's own rendering of the page.
  function refresh() {
    return fetchPage(window.location.pathname).then(function (fresh) {
      ["choices", "held", "history"].forEach(function (id) {
        var now = document.getElementById(id);
        var then = fresh.getElementById(id);
        if (now && then) now.replaceWith(then);
      });
    });
  }

  function put(purpose, granted, noticeVersion) {
    return fetch("/api/v1/consent/" + encodeURIComponent(purpose) + "/", {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      body: JSON.stringify({ granted: granted, notice_version: noticeVersion })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error ? body.error.message : "The change was not saved.");
        return body;
      });
    });
  }

  function change(form, granted, doneMessage) {
    var button = form.querySelector("button[name=action]");
    var purpose = form.querySelector("input[name=purpose]").value;
    var label = form.closest(".toggle-row").querySelector("h3").textContent;
    button.disabled = true;
    return put(purpose, granted, form.querySelector("input[name=notice_version]").value).then(function () {
      return refresh();
    }).then(function () {
      showMessage(doneMessage || (granted ? label + " is on." : label + " is off. Access stopped at once."), false);
      var again = document.querySelector('.toggle-row[data-purpose="' + purpose + '"] button[name=action]');
      if (again) again.focus();
    }).catch(function (error) {
      showMessage(error.message, true);
      button.disabled = false;
    });
  }

  function ask(form, url) {
    var button = form.querySelector("button[name=action]");
    button.disabled = true;
    fetchPage(url).then(function (page) {
      var question = page.getElementById("turn-off-confirm");
      if (!question) { window.location.href = url; return; }
      if (!dialog) {
        dialog = document.createElement("dialog");
        dialog.id = "turn-off-dialog";
        document.body.appendChild(dialog);
      }
      dialog.textContent = "";
      question.classList.remove("card");
      dialog.appendChild(question);
      dialog.setAttribute("aria-labelledby", "turn-off-heading");
      var done = question.dataset.done;
      question.querySelector("form").addEventListener("submit", function (event) {
        event.preventDefault();
        dialog.close();
        change(form, false, done);
      });
      question.querySelector("a.keep").addEventListener("click", function (event) {
        event.preventDefault();
        dialog.close();
      });
      dialog.addEventListener("close", function () { button.disabled = false; button.focus(); }, { once: true });
      dialog.showModal();
      var keep = question.querySelector("a.keep");
      if (keep) keep.focus();  // the safe choice has the focus
    }).catch(function (error) {
      showMessage(error.message, true);
      button.disabled = false;
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.consent-form")) return;
    event.preventDefault();
    var button = form.querySelector("button[name=action]");
    var turnOn = button.value === "on";
    var confirmUrl = form.closest(".toggle-row").dataset.confirm;
    if (!turnOn && confirmUrl) ask(form, confirmUrl);
    else change(form, turnOn);
  });
})();
