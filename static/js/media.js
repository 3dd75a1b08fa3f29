// The photos timeline: a box per day ticks (or unticks) all of that day's photos, and the bulk bar says
// how many are ticked. Without JavaScript each photo's own box and the bar's buttons work the same.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var count = form.querySelector(".bulk-count");
    var boxes = function (scope) { return Array.prototype.slice.call(scope.querySelectorAll('input[name=items]')); };

    function update() {
      var ticked = boxes(document).filter(function (b) { return b.checked; }).length;
      count.textContent = ticked ? ticked + (ticked === 1 ? " photo ticked" : " photos ticked") : "";
      document.querySelectorAll(".timeline-day").forEach(function (day) {
        var own = boxes(day), all = day.querySelector(".pick-day");
        var on = own.filter(function (b) { return b.checked; }).length;
        all.checked = on === own.length && on > 0;
        all.indeterminate = on > 0 && on < own.length;
      });
    }

    document.addEventListener("change", function (event) {
      var target = event.target;
      if (target.classList && target.classList.contains("pick-day")) {
        boxes(target.closest(".timeline-day")).forEach(function (b) { b.checked = target.checked; });
      }
      if (target.name === "items" || (target.classList && target.classList.contains("pick-day"))) update();
    });
    update();
  });
})();
