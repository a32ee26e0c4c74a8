// "Share link": copy the signed link to the clipboard (falls back to a prompt to copy by hand).
document.addEventListener("click", function (event) {
  "use strict";
  var link = event.target.closest("[data-copy]");
  if (!link) return;
  event.preventDefault();
  var url = link.getAttribute("data-copy");
  var done = function () {
    var label = link.textContent;
    link.textContent = "Copied";
    setTimeout(function () { link.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(url).then(done, function () { window.prompt("Copy this link", url); });
  } else {
    window.prompt("Copy this link", url);
  }
});
