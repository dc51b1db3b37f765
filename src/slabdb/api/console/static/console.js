// SlabDB console: keeps the API key in sessionStorage and sends it with every htmx request.
(function () {
  "use strict";
  var KEY = "slabdb.console.apiKey";
  var form = document.getElementById("key-form");
  var input = document.getElementById("api-key");
  var status = document.getElementById("key-status");
  var main = document.getElementById("console-main");
  var forget = document.getElementById("forget-key");

  function storedKey() { return window.sessionStorage.getItem(KEY) || ""; }

  function show() {
    var keyed = storedKey() !== "";
    form.hidden = keyed;
    main.hidden = !keyed;
    forget.hidden = !keyed;
    if (keyed) {
      htmx.trigger(document.body, "console:keyed");
    } else {
      document.getElementById("namespace").innerHTML = "";
      input.focus();
    }
  }

  document.body.addEventListener("htmx:configRequest", function (event) {
    var key = storedKey();
    if (key) { event.detail.headers["Api-Key"] = key; }
  });
  document.body.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr.status === 401 && storedKey()) {
      window.sessionStorage.removeItem(KEY);
      status.textContent = "That API key was refused: enter a key of this server.";
      show();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var key = input.value.trim();
    if (!key) { return; }
    window.sessionStorage.setItem(KEY, key);
    input.value = "";
    status.textContent = "";
    show();
  });
  forget.addEventListener("click", function () {
    window.sessionStorage.removeItem(KEY);
    show();
  });
  // After htmx has processed the page (its DOMContentLoaded listener was added first).
  document.addEventListener("DOMContentLoaded", show);
})();
