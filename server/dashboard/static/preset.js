// The create-workspace form's one convenience: choosing a preset fills in the values it
// sets (the server applies them anyway; without this script the form still works).
"use strict";
(function () {
  const select = document.getElementById("preset");
  if (!select) return;
  const presets = JSON.parse(select.dataset.presets || "{}");

  function fill(name, value) {
    const inputs = document.getElementsByName("param." + name);
    let items = null;
    try { items = JSON.parse(value); } catch (e) { items = null; }
    for (const input of inputs) {
      if (input.type === "hidden") continue;
      if (input.type === "checkbox" && Array.isArray(items)) input.checked = items.includes(input.value);
      else if (input.type === "checkbox") input.checked = value === "true";
      else if (input.type === "radio") input.checked = input.value === value;
      else if (input.tagName === "TEXTAREA" && Array.isArray(items)) input.value = items.join("\n");
      else input.value = value;
    }
  }

  select.addEventListener("change", function () {
    const values = presets[select.value] || {};
    for (const name of Object.keys(values)) fill(name, values[name]);
  });
})();
