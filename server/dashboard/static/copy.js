// "Copy" buttons (data-copy: the id of the field to copy), shown only where script runs.
// One listener on the document, so a button htmx swaps in later copies too.
(function () {
  "use strict";

  function reveal(root) {
    for (const button of root.querySelectorAll("button[data-copy][hidden]")) {
      button.hidden = false;
    }
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    const field = document.getElementById(button.dataset.copy);
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      document.execCommand("copy");  // plain HTTP: no clipboard API outside a secure context
    }
    button.textContent = "Copied";
  });
  document.addEventListener("DOMContentLoaded", () => reveal(document));
  document.addEventListener("htmx:afterSettle", (event) => reveal(event.target));
})();
