// The leaderboard's filter box: keeps the rows whose model, source, architecture, training data, defense or
// threat model contain every word typed (case-insensitive); an empty box shows every row. The "only models trained
// for the norm" switch keeps, on each board, the models trained against that board's norm. Nothing fetched.
(function () {
  "use strict";
  var input = document.getElementById("filter");
  if (!input) { return; }
  var count = document.getElementById("filter-count");
  var trainedOnly = document.getElementById("trained-only");
  var tables = document.querySelectorAll("table.filterable");
  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var onlyTrained = trainedOnly ? trainedOnly.checked : false;
    var shown = 0, total = 0;
    tables.forEach(function (table) {
      var visible = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.getAttribute("data-filter") || row.textContent.toLowerCase();
        var keep = words.every(function (w) { return text.indexOf(w) !== -1; }) &&
          (!onlyTrained || row.getAttribute("data-trained") !== "no");
        row.hidden = !keep;
        if (keep) { visible += 1; }
      });
      shown += visible;
      total += table.tBodies[0].rows.length;
      var board = table.closest(".board");
      var empty = board ? board.querySelector(".empty") : null;
      if (empty) { empty.hidden = visible > 0; }
    });
    count.textContent = words.length || onlyTrained ? shown + " of " + total + " rows" : "";
  }
  input.addEventListener("input", apply);
  if (trainedOnly) { trainedOnly.addEventListener("change", apply); }
  apply();
})();
