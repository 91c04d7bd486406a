// Sortable tables: click (or Enter on) a header to sort its column (numbers numerically, text alphabetically);
// again to reverse. A cell's data-sort attribute, when present, is its key. Empty cells ("", "–") stay last both
// ways. No dependencies, nothing fetched.
(function () {
  "use strict";
  var NUMBER = /^\[?-?[0-9][0-9,]*(\.[0-9]+)?(e-?[0-9]+)?\s*%?/i;
  function key(cell) {
    var text = (cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent).trim();
    var match = NUMBER.exec(text);
    return {
      empty: text === "" || text === "–" || text === "-",
      text: text,
      num: match ? parseFloat(match[0].replace(/[\[,%\s]/g, "")) : NaN
    };
  }
  function compare(a, b) {
    var an = !isNaN(a.num), bn = !isNaN(b.num);
    if (an && bn && a.num !== b.num) { return a.num - b.num; }
    if (an !== bn) { return an ? -1 : 1; }
    return a.text.localeCompare(b.text);
  }
  function sortBy(table, th, col) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = new Map(rows.map(function (r) { return [r, key(r.cells[col])]; }));
    rows.sort(function (r1, r2) {
      var k1 = keys.get(r1), k2 = keys.get(r2);
      if (k1.empty !== k2.empty) { return k1.empty ? 1 : -1; }
      var c = compare(k1, k2);
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
})();
