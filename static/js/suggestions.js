// Suggestions page: a recap whose video cannot play falls back to its animated WebP.
(function () {
  "use strict";
  function fallBack(video) {
    var img = document.createElement("img");
    img.src = video.dataset.fallback;
    img.alt = video.getAttribute("aria-label") || "";
    img.className = "recap-fallback";
    video.replaceWith(img);
  }
  document.querySelectorAll(".recap-player video").forEach(function (video) {
    var source = video.querySelector("source");
    if (!video.canPlayType("video/mp4")) { fallBack(video); return; }
    if (source) { source.addEventListener("error", function () { fallBack(video); }); }
  });
})();
