// Behaviour every page shares, without inline script (the pages run under a strict CSP):
// - the menu button folds the navigation away on narrow screens (without JS it stays visible);
// - a form or button with data-confirm asks before it acts (revoke, disconnect, replay, cancel);
// - a button with data-copy-from="ID" copies that element's text (a new API token).
(function () {
  "use strict";

  function setUpMenu() {
    var button = document.querySelector(".menu-button");
    var header = document.querySelector(".topbar");
    if (!button || !header) return;
    button.hidden = false;
    header.classList.add("has-menu");
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      header.classList.toggle("menu-open", open);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-from"));
    if (!source) return;
    var text = source.value || source.textContent.trim();
    var label = button.textContent;
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { window.prompt("Copy this", text); });
    } else {
      window.prompt("Copy this", text);
    }
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpMenu);
  else setUpMenu();
})();
