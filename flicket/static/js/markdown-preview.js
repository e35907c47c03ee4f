// Live Markdown preview: the server renders and sanitises (the same code as saved posts);
// this only sends the text and shows the answer. No inline script anywhere (CSP).
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');

  function preview(textarea) {
    var target = document.getElementById(textarea.dataset.previewTarget);
    if (!target) { return; }
    var body = new URLSearchParams();
    body.append("content", textarea.value);
    fetch(textarea.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRF-Token": token ? token.content : ""},
      body: body
    }).then(function (response) {
      return response.ok ? response.text() : "";
    }).then(function (html) {
      target.innerHTML = html;  // sanitised by the server's allowlist
    }).catch(function () { /* the preview is a convenience; the form still works */ });
  }

  document.querySelectorAll("textarea[data-preview-url]").forEach(function (textarea) {
    var timer = null;
    textarea.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { preview(textarea); }, 300);
    });
    if (textarea.value) { preview(textarea); }
  });

  document.querySelectorAll("[data-preview-toggle]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.dataset.previewToggle);
      var hidden = target.classList.toggle("d-none");
      button.setAttribute("aria-expanded", hidden ? "false" : "true");
    });
  });
})();
