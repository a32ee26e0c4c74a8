// Destructive forms ask first: <form data-confirm="Deactivate x?"> submits only if the person agrees.
document.addEventListener("submit", function (event) {
  "use strict";
  var form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
