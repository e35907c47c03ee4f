// Confirmation before an action that is hard to undo (close, release, unsubscribe...).
// A link with data-confirm="question" opens the layout's <dialog id="confirm-dialog">
// (title from data-confirm-title, button from data-confirm-button, red with
// data-confirm-danger). Confirming posts a form to the link's address with the page's
// CSRF token, plus data-confirm-name=data-confirm-value when given. Cancel or Escape give
// the focus back to the link. Without JavaScript, or without <dialog>, the link leads to
// the confirmation page at the same address, so nothing happens unconfirmed either way.
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  var token = document.querySelector('meta[name="csrf-token"]');
  if (!dialog || !token || typeof dialog.showModal !== "function") { return; }
  var title = document.getElementById("confirm-dialog-title");
  var question = document.getElementById("confirm-dialog-question");
  var ok = dialog.querySelector("[data-confirm-ok]");
  var cancel = dialog.querySelector("[data-confirm-cancel]");
  var opener = null;

  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function open(link) {
    var label = link.textContent.trim();
    title.textContent = link.dataset.confirmTitle || label;
    question.textContent = link.dataset.confirm;
    ok.textContent = link.dataset.confirmButton || label;
    ok.className = "btn " + (link.hasAttribute("data-confirm-danger") ? "btn-danger" : "btn-primary");
    ok.disabled = false;
    opener = link;
    dialog.showModal();
    cancel.focus();  // the safe choice first: Enter does not close a ticket by accident
  }

  function confirmed() {
    var form = document.createElement("form");
    form.method = "post";
    form.action = opener.getAttribute("href");
    hidden(form, "csrf_token", token.content);
    if (opener.dataset.confirmName) {
      hidden(form, opener.dataset.confirmName, opener.dataset.confirmValue || "");
    }
    document.body.appendChild(form);
    ok.disabled = true;  // one click, one request
    opener = null;
    form.submit();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    event.preventDefault();
    open(link);
  });
  ok.addEventListener("click", confirmed);
  cancel.addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    if (opener) { opener.focus(); }
  });
})();
