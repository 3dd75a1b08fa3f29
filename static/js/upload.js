// /media/ upload, enhanced: the same form works without JavaScript (one request for all the photos).
// With it, photos go one by one to the API, each with its own progress bar and, if refused, the reason
// in plain words; dropping photos on the form works too. The list of photos is refreshed at the end.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var input = document.getElementById("upload-files");
  var list = document.getElementById("upload-list");
  var words = JSON.parse(document.getElementById("upload-words").textContent);
  var limit = Number(form.dataset.limit);
  var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var queue = [];
  var busy = false;
  var added = 0;

  form.classList.add("enhanced");
  input.required = false;

  function row(file) {
    var li = document.createElement("li");
    li.className = "upload-item";
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Progress of " + file.name);
    var state = document.createElement("span");
    state.className = "upload-state muted";
    state.textContent = "Waiting";
    li.append(name, bar, state);
    list.appendChild(li);
    return { li: li, bar: bar, state: state };
  }

  function finish(view, kind, text) {
    view.li.dataset.result = kind;
    view.state.textContent = text;
    view.state.className = "upload-state " + (kind === "error" ? "bad" : kind === "added" ? "ok" : "muted");
    if (kind !== "error") view.bar.value = 100;
    else view.bar.hidden = true;
  }

  function codeOf(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      return body.error && body.error.code;
    } catch (e) {
      return null;
    }
  }

  function send(job, done) {
    var view = job.view;
    var data = new FormData();
    data.append("file", job.file, job.file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/media/");
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) view.bar.value = Math.round((event.loaded / event.total) * 95);
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) {
        added += 1;
        finish(view, "added", "Added");
      } else if (xhr.status === 200) {
        finish(view, "duplicate", words.duplicate);
      } else {
        finish(view, "error", words[codeOf(xhr)] || words.failed);
      }
      done();
    });
    xhr.addEventListener("error", function () { finish(view, "error", words.network); done(); });
    view.state.textContent = "Adding…";
    xhr.send(data);
  }

  function next() {
    if (busy) return;
    var job = queue.shift();
    if (!job) {
      if (added) refresh();
      return;
    }
    busy = true;
    send(job, function () { busy = false; next(); });
  }

  function take(files) {
    Array.prototype.forEach.call(files, function (file) {
      var view = row(file);
      if (file.size > limit) {
        finish(view, "error", words.file_too_large);
      } else if (file.type && file.type.indexOf("image/") !== 0) {
        finish(view, "error", words.unsupported_media_type);
      } else {
        queue.push({ file: file, view: view });
      }
    });
    next();
  }

  // The new photos appear without a reload: the list and the counts come from the page itself.
  function refresh() {
    added = 0;
    fetch(window.location.pathname, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      ["media-list", "media-summary"].forEach(function (id) {
        var now = document.getElementById(id);
        var then = fresh.getElementById(id);
        if (now && then) now.replaceWith(then);
      });
    });
  }

  input.addEventListener("change", function () {
    take(input.files);
    input.value = "";
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    take(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach(function (type) {
    form.addEventListener(type, function (event) {
      event.preventDefault();
      form.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    form.addEventListener(type, function () { form.classList.remove("dragging"); });
  });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) take(event.dataTransfer.files);
  });
})();
