// Palisade console: progressive enhancement only. Every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Filters apply as soon as a select or checkbox changes.
  for (const form of document.querySelectorAll("form.filters")) {
    for (const input of form.querySelectorAll("select, input[type=checkbox]")) {
      input.addEventListener("change", () => form.requestSubmit());
    }
  }
  // "/" jumps to the page's search field, as in most consoles.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
    const search = document.querySelector("input[type=search], input#v-id");
    if (search) {
      e.preventDefault();
      search.focus();
    }
  });
  // Forms that change something ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
  document.documentElement.classList.add("js");
});
