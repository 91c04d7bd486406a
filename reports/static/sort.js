// Sortable tables: click a header to sort its column (numbers numerically, text alphabetically); click again to
// reverse. No dependencies, nothing fetched.
(function () {
  "use strict";
  function key(cell) {
    var text = cell.textContent.trim();
    var num = parseFloat(text.replace(/[%\s]/g, ""));
    return { text: text, num: /^-?[0-9.]+(e-?[0-9]+)?\s*%?$/i.test(text) ? num : NaN };
  }
  function compare(a, b) {
    var an = !isNaN(a.num), bn = !isNaN(b.num);
    if (an && bn) { return a.num - b.num; }
    if (an !== bn) { return an ? -1 : 1; }
    return a.text.localeCompare(b.text);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(key(r1.cells[col]), key(r2.cells[col]));
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
