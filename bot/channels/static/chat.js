// Web chat client. Every text from the server or the user is shown with textContent, never as HTML.
"use strict";
(function () {
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const choices = document.getElementById("choices");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const photo = document.getElementById("photo");
  const locate = document.getElementById("locate");
  const MAX = Number(input.dataset.max) || 2000; // the longest message the server takes
  const KEPT = "appeals-chat-log"; // this tab's transcript: a reload shows it again; "end" forgets it
  let ws = null;
  let retry = 500;
  let seq = 0;
  let repeat = null; // after a reload: the last question shown, which the server asks again on "hello"
  const pending = new Map(); // id -> frame, resent after a reconnect (the server drops duplicates)

  function newId() {
    seq += 1;
    const rnd = (window.crypto && crypto.getRandomValues) ? crypto.getRandomValues(new Uint32Array(2)).join("") : String(Math.random()).slice(2);
    return "c" + Date.now().toString(36) + rnd + "-" + seq;
  }

  function kept() {
    try { return JSON.parse(sessionStorage.getItem(KEPT) || "[]"); } catch (e) { return []; }
  }

  const NUMBER = /\d{3,6}-\d{8}-\d{3,6}/g; // a case number is never broken across lines

  function fill(div, text) {
    let at = 0;
    for (const m of text.matchAll(NUMBER)) {
      div.appendChild(document.createTextNode(text.slice(at, m.index)));
      const span = document.createElement("span");
      span.className = "nowrap";
      span.textContent = m[0];
      div.appendChild(span);
      at = m.index + m[0].length;
    }
    div.appendChild(document.createTextNode(text.slice(at)));
  }

  function bubble(text, cls, keep) {
    const div = document.createElement("div");
    div.className = "msg " + cls;
    fill(div, text);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    if (keep !== false) {
      try { sessionStorage.setItem(KEPT, JSON.stringify(kept().concat([[cls, text]]).slice(-200))); } catch (e) { /* full or off */ }
    }
    return div;
  }

  function restore() {
    let last = null;
    for (const [cls, text] of kept()) {
      if (typeof text === "string" && ["me", "bot", "notice", "error"].includes(cls)) {
        bubble(text, cls, false);
        last = cls === "bot" ? text : null;
      }
    }
    repeat = last;
  }

  function button(choice, parent) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = choice.label;
    b.dataset.value = choice.value;
    b.addEventListener("click", function () {
      for (const other of parent.querySelectorAll("button")) other.disabled = true; // one tap: no double submit
      bubble(choice.label, "me");
      send({ type: "choice", value: choice.value });
    });
    parent.appendChild(b);
  }

  function show(messages, cls) {
    if (cls !== "notice") choices.replaceChildren(); // a pushed notice leaves the current question's buttons
    for (const m of messages) {
      if (cls === "notice") {
        const div = bubble(m.text, cls);
        for (const c of m.choices || []) button(c, div);
        continue;
      }
      if (repeat === null || m.text !== repeat) bubble(m.text, cls); // not the restored question twice
      repeat = null;
      for (const c of m.choices || []) button(c, choices);
      locate.hidden = m.expect !== "location";
    }
    requestAnimationFrame(function () { log.scrollTop = log.scrollHeight; }); // once the buttons took their room
  }

  function send(frame) {
    frame.id = frame.id || newId();
    pending.set(frame.id, frame);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/chat/ws");
    ws.onopen = function () {
      retry = 500;
      status.textContent = "已连接 · connected";
      ws.send(JSON.stringify({ type: "hello" }));
      for (const frame of pending.values()) ws.send(JSON.stringify(frame));
    };
    ws.onmessage = function (event) {
      let data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.in_reply_to) pending.delete(data.in_reply_to);
      if (data.type === "reply") show(data.messages || [], "bot");
      else if (data.type === "notice") show(data.messages || [], "notice");
      else if (data.type === "error") bubble(data.message || "消息格式有误，请重试。", "error");
    };
    ws.onclose = function () {
      status.textContent = "连接已断开，正在重连… · reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (text.length > MAX) { // kept in the box to shorten, never lost
      bubble("内容太长了（最多" + MAX + "字，现有" + text.length + "字），请删减后再发送。\n" +
             "Too long (at most " + MAX + " characters, now " + text.length + "); please shorten it.", "error", false);
      return;
    }
    bubble(text, "me");
    input.value = "";
    fit();
    send({ type: "message", text: text });
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  // The box grows with what is typed (up to about five lines, then it scrolls) and shrinks back once sent,
  // showing its hint from the start again.
  function fit() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
    if (!input.value) input.scrollTop = 0;
    const n = input.value.length;
    if (n > MAX * 0.9) status.textContent = "已输入 " + n + " / " + MAX + " 字" + (n > MAX ? "，超出了" : "");
    else if (status.textContent.indexOf("已输入") === 0) status.textContent = "";
  }
  input.addEventListener("input", fit);

  const picker = photo.closest("label");
  picker.addEventListener("keydown", function (event) { // the camera control works from the keyboard too
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); photo.click(); }
  });

  photo.addEventListener("change", async function () {
    const file = photo.files[0];
    photo.value = "";
    if (!file) return;
    const body = new FormData();
    body.append("file", file, file.name);
    status.textContent = "正在上传照片… · uploading…";
    try {
      const response = await fetch("/chat/upload", { method: "POST", body: body, credentials: "same-origin" });
      const data = await response.json();
      status.textContent = "";
      if (!response.ok) { bubble(data.message || "上传失败 / Upload failed", "error"); return; }
      bubble("[照片] " + data.filename, "me");
      send({ type: "attachment", attachments: [data.attachment], text: "" });
    } catch (e) {
      bubble("上传失败，请重试。/ Upload failed; please try again.", "error");
    }
  });

  function noLocation() {
    bubble("无法获取定位（未授权或设备不支持），请直接输入地址。\nYour location is not available; please type the address.",
           "error", false);
  }

  locate.addEventListener("click", function () {
    if (!navigator.geolocation) { noLocation(); return; }
    status.textContent = "正在获取定位… · locating…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      status.textContent = "";
      bubble("[定位] " + pos.coords.latitude.toFixed(5) + ", " + pos.coords.longitude.toFixed(5), "me");
      send({ type: "location", lat: pos.coords.latitude, lon: pos.coords.longitude });
    }, function () { status.textContent = ""; noLocation(); }, { timeout: 15000 });
  });

  document.getElementById("end").addEventListener("click", async function () {
    if (!window.confirm("结束后，本页会清除这次的对话记录，下次打开是新的会话。请先记下诉求编号和查询码。确定结束吗？\n" +
                        "End the session? This page forgets the conversation: note your appeal number and tracking code first.")) {
      return;
    }
    try { sessionStorage.removeItem(KEPT); } catch (e) { /* off */ }
    await fetch("/chat/logout", { method: "POST", credentials: "same-origin" });
    location.reload();
  });

  restore();
  connect();
})();
