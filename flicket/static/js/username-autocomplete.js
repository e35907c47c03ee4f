// Username suggestions for every <input data-autocomplete="users">: after a short pause in
// typing, asks /users/complete?q=<text> and fills the <datalist> named by the input's
// `list` attribute (created when missing). No inline script anywhere (CSP); suggestions
// are set as text, never as HTML.
(function () {
  "use strict";
  var DELAY_MS = 250;
  var MIN_LENGTH = 2;

  // The application may live under a prefix: find it from this script's own address
  // (".../flicket/static/js/username-autocomplete.js"). An input can name its own URL
  // with data-autocomplete-url.
  function defaultUrl() {
    var script = document.currentScript;
    var path = script && script.src ? new URL(script.src, document.baseURI).pathname : "";
    var at = path.indexOf("/flicket/static/");
    return (at > 0 ? path.slice(0, at) : "") + "/users/complete";
  }

  var fallbackUrl = defaultUrl();
  var created = 0;

  function datalistFor(input) {
    var id = input.getAttribute("list");
    var datalist = id ? document.getElementById(id) : null;
    if (datalist && datalist.tagName === "DATALIST") { return datalist; }
    datalist = document.createElement("datalist");
    created += 1;
    datalist.id = id || (input.id || "users-autocomplete-" + created) + "-suggestions";
    input.insertAdjacentElement("afterend", datalist);
    input.setAttribute("list", datalist.id);
    return datalist;
  }

  function fill(datalist, users) {
    while (datalist.firstChild) { datalist.removeChild(datalist.firstChild); }
    users.forEach(function (user) {
      if (!user || typeof user.username !== "string") { return; }
      var option = document.createElement("option");
      option.value = user.username;
      if (user.name) { option.label = user.name; }
      datalist.appendChild(option);
    });
  }

  function attach(input) {
    var datalist = datalistFor(input);
    var url = input.dataset.autocompleteUrl || fallbackUrl;
    var timer = null;
    var controller = null;
    var asked = null;

    function lookUp() {
      var text = input.value.trim();
      if (text.length < MIN_LENGTH) {
        asked = null;
        fill(datalist, []);
        return;
      }
      if (text === asked) { return; }
      asked = text;
      if (controller) { controller.abort(); }
      controller = typeof AbortController === "function" ? new AbortController() : null;
      fetch(url + "?q=" + encodeURIComponent(text), {
        credentials: "same-origin",
        headers: {"Accept": "application/json"},
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        return response.ok && type.indexOf("application/json") === 0 ? response.json() : [];
      }).then(function (users) {
        if (input.value.trim() === text && Array.isArray(users)) { fill(datalist, users); }
      }).catch(function () {
        // Suggestions are a convenience; typing still works. Ask again next time.
        if (asked === text) { asked = null; }
      });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookUp, DELAY_MS);
    });
  }

  document.querySelectorAll('input[data-autocomplete="users"]').forEach(attach);
})();
