// "Select all" on a list with checkboxes: <input type="checkbox" data-select-all="NAME"> ticks every
// enabled checkbox named NAME in the same form, and shows "some" (indeterminate) when only part is ticked.
(function () {
  "use strict";
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var form = all.form || all.closest("form");
    if (!form) return;
    var boxes = function () {
      return Array.prototype.filter.call(form.querySelectorAll('input[type="checkbox"][name="' + all.dataset.selectAll + '"]'),
        function (box) { return !box.disabled; });
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
    form.addEventListener("change", function (event) {
      if (event.target === all) return;
      var list = boxes(), ticked = list.filter(function (box) { return box.checked; }).length;
      all.checked = list.length > 0 && ticked === list.length;
      all.indeterminate = ticked > 0 && ticked < list.length;
    });
  });
})();
