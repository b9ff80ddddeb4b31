// The create-workspace form's conveniences; without this script the form still works and
// the server checks and applies the same. Choosing a preset fills in the values it sets;
// a number out of the template's bounds is refused by the browser with the template's own
// message ({min}, {max} and {value} filled in, as the server says it); a slider shows its
// value as it moves.
"use strict";
(function () {
  const select = document.getElementById("preset");
  const presets = select ? JSON.parse(select.dataset.presets || "{}") : {};

  function fill(name, value) {
    let items = null;
    try { items = JSON.parse(value); } catch (e) { items = null; }
    for (const input of document.getElementsByName("param." + name)) {
      if (input.type === "hidden") continue;
      if (input.type === "checkbox" && Array.isArray(items)) input.checked = items.includes(input.value);
      else if (input.type === "checkbox") input.checked = value === "true";
      else if (input.type === "radio") input.checked = input.value === value;
      else if (input.tagName === "TEXTAREA" && Array.isArray(items)) input.value = items.join("\n");
      else input.value = value;
      input.dispatchEvent(new Event("input"));  // what shows the value follows it
    }
  }

  if (select) {
    select.addEventListener("change", function () {
      const values = presets[select.value] || {};
      for (const name of Object.keys(values)) fill(name, values[name]);
    });
  }

  function templateMessage(input) {
    input.setCustomValidity("");
    if (input.validity.rangeOverflow || input.validity.rangeUnderflow) {
      input.setCustomValidity(input.dataset.validationError
        .replaceAll("{min}", String(Math.trunc(Number(input.min || 0))))
        .replaceAll("{max}", String(Math.trunc(Number(input.max || 0))))
        .replaceAll("{value}", input.value));
    }
  }

  for (const output of document.querySelectorAll("output.slider-value")) {
    const slider = document.getElementById(output.htmlFor.value);
    slider.addEventListener("input", function () { output.value = slider.value; });
  }

  for (const input of document.querySelectorAll("input[data-validation-error]")) {
    input.addEventListener("input", function () { templateMessage(input); });
    templateMessage(input);
  }
})();
