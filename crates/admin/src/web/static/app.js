// Sluice admin center: optional conveniences. Every page reads and every form submits
// without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: hidden without JavaScript, they copy the text of the element they name.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        var label = button.textContent;
        button.textContent = button.getAttribute("data-copied") || label;
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
  // The first field with an error gets the focus, so keyboard users land on it.
  var invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) { invalid.focus(); }
});
