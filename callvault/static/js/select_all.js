// "Select all" in a table of checkboxes: <input type="checkbox" data-select-all="recording_id"> ticks every
// checkbox named recording_id in the same table. Delegated, so it works on rows htmx swaps in later.
document.addEventListener("change", function (event) {
  "use strict";
  var box = event.target.closest("input[data-select-all]");
  if (!box) return;
  var name = box.getAttribute("data-select-all");
  box.closest("table").querySelectorAll("input[type=checkbox]").forEach(function (other) {
    if (other.name === name) other.checked = box.checked;
  });
});
