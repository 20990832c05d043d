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
  // Phone desk: knowledge answers while the operator types (text only, never HTML).
  var box = document.querySelector("textarea[data-live-answers]");
  var live = document.getElementById("live-answers");
  if (box && live) {
    var timer = null, last = "";
    var el = function (tag, text, cls) {
      var n = document.createElement(tag); if (text) n.textContent = text; if (cls) n.className = cls; return n;
    };
    var show = function (answers) {
      live.replaceChildren();
      if (!answers.length) { live.hidden = true; return; }
      live.appendChild(el("h2", live.dataset.title));
      var list = el("ol");
      answers.forEach(function (a) {
        var li = el("li", "", "kb-answer");
        li.appendChild(el("p", a.question + " · " + Math.round(a.score * 100) + "%" + (a.confident ? "" : " · " + live.dataset.low)));
        li.appendChild(el("p", a.answer, "kb-text"));
        li.appendChild(el("p", live.dataset.unit + "：" + a.unit + " · " + live.dataset.source + "：" + a.source, "muted"));
        var b = el("button", live.dataset.button); b.type = "submit"; b.name = "answer_with"; b.value = String(a.article_id);
        li.appendChild(b); list.appendChild(li);
      });
      live.appendChild(list); live.hidden = false;
    };
    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var text = box.value.trim();
        if (text === last) return;
        last = text;
        if (text.length < 4) { show([]); return; }
        fetch(box.dataset.liveAnswers + "?text=" + encodeURIComponent(text), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : {answers: []}; })
          .then(function (data) { if (box.value.trim() === text) show(data.answers || []); })
          .catch(function () { show([]); });
      }, 350);
    });
  }
})();
