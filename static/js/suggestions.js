// Suggestions page: a recap whose video cannot play falls back to its animated WebP; a new share
// link gets a Copy button (Clipboard API, else the selection and execCommand, else "press Ctrl+C")
// and, where the browser has one (phones), the system share sheet.
(function () {
  "use strict";
  function fallBack(video) {
    var img = document.createElement("img");
    img.src = video.dataset.fallback;
    img.alt = video.getAttribute("aria-label") || "";
    img.className = "recap-fallback";
    video.replaceWith(img);
  }

  function copyBySelection(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function setUpShare(box) {
    var input = box.querySelector(".share-url");
    var copy = box.querySelector(".copy-link");
    var share = box.querySelector(".share-sheet");
    var state = box.querySelector(".copy-state");
    copy.hidden = false;
    copy.addEventListener("click", function () {
      function done() { state.textContent = "Link copied."; }
      function manual() {
        if (copyBySelection(input)) { done(); return; }
        input.select();
        state.textContent = "The link is selected: press Ctrl+C (or ⌘C) to copy it.";
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, manual);
      } else {
        manual();
      }
    });
    if (typeof navigator.share === "function") {
      share.hidden = false;
      share.addEventListener("click", function () {
        navigator.share({ title: box.dataset.title || "A suggestion", url: input.value })
          .catch(function () { /* closed without sharing: nothing to say */ });
      });
    }
  }

  document.querySelectorAll(".recap-player video").forEach(function (video) {
    var source = video.querySelector("source");
    if (!video.canPlayType("video/mp4")) { fallBack(video); return; }
    if (source) { source.addEventListener("error", function () { fallBack(video); }); }
  });
  document.querySelectorAll(".share-new").forEach(setUpShare);
})();
