// The leaderboard's switches: "more columns" shows the columns beyond the compact default set, and the tables'
// header rows stay visible just below the sticky site header while the page scrolls (a table's wrapper scrolls
// sideways, so CSS alone would pin its header to the wrapper, under the site header). Nothing fetched.
(function () {
  "use strict";
  var tables = document.querySelectorAll("table.leaderboard");
  var more = document.getElementById("more-columns");
  if (more) {
    var show = function () {
      tables.forEach(function (t) { t.classList.toggle("all-columns", more.checked); });
    };
    more.addEventListener("change", show);
    show();
  }
  var site = document.querySelector("header.site");
  var wraps = Array.prototype.map.call(tables, function (t) { return t.closest(".table-wrap"); })
    .filter(Boolean);
  var pending = false;
  function pin() {
    pending = false;
    var below = site ? site.getBoundingClientRect().bottom : 0;
    wraps.forEach(function (w) {
      var top = w.getBoundingClientRect().top;
      w.style.setProperty("--sticky-top", Math.max(0, below - top) + "px");
    });
  }
  function schedule() {
    if (!pending) { pending = true; window.requestAnimationFrame(pin); }
  }
  window.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", schedule);
  pin();
})();
