// Keyboard helpers: "/" focuses search, "g q" goes to the first queue; forms ask before leaving unsaved text.
(function () {
  "use strict";
  var pendingG = false;
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/") {
      var box = document.getElementById("global-search");
      if (box) { ev.preventDefault(); box.focus(); }
    } else if (ev.key === "g") {
      pendingG = true; setTimeout(function () { pendingG = false; }, 800);
    } else if (pendingG && ev.key === "q") {
      var first = document.querySelector(".side a");
      if (first) { window.location.href = first.getAttribute("href"); }
    }
  });
  document.querySelectorAll("details.action").forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (d.open) { var f = d.querySelector("textarea, select, input:not([type=hidden])"); if (f) f.focus(); }
    });
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var b = form.querySelector("button[type=submit]");
      if (b) { setTimeout(function () { b.disabled = true; }, 0); }
    });
  });
})();
