/* Haken chat widget: <script src="https://<haken>/static/agents/widget.js" data-haken-key="pk_…" async></script>
 * Opens a chat with the partner's digital employee; replies are polled from the platform; a
 * coupon the employee issues is shown as a code the shopper can copy.
 * No dependencies, no cookies: the conversation's token is kept in sessionStorage.
 *
 * Before it draws anything it asks /api/v1/widget/config whether it may show here: on a page
 * whose origin the partner did not allow, or for a placement that is not active, it stays
 * invisible (a shopper never sees an error meant for the partner). Its own words follow the
 * page's language (<html lang>): English and Japanese. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-haken-key]");
  if (!script) { return; }
  var key = script.getAttribute("data-haken-key");
  var api = new URL(script.src, window.location.href).origin + "/api/v1/widget";
  var base = api + "/conversations";
  var storeKey = "haken-widget:" + key;
  var state;
  try { state = JSON.parse(window.sessionStorage.getItem(storeKey) || "null"); } catch (e) { state = null; }
  state = state || { conversation: null, token: null, last: 0 };
  var polling = null;

  var STRINGS = {
    en: {
      launcher: "Chat with {name}",
      greeting: "Hi, I'm {name}, {title} at {partner}. How can I help?",
      placeholder: "Type your message…", message: "Message", send: "Send", close: "Close chat",
      typing: "{name} is typing…", dialog: "Chat with {name}",
      offline: "Sorry, the chat is not reachable right now. Please try again in a moment.",
      busy: "You are sending messages quickly; please wait a moment.",
      problem: "Sorry, that did not go through. Please try again."
    },
    ja: {
      launcher: "{name}とチャット",
      greeting: "こんにちは、{partner}の{name}（{title}）です。ご用件をどうぞ。",
      placeholder: "メッセージを入力…", message: "メッセージ", send: "送信", close: "チャットを閉じる",
      typing: "{name}が入力中…", dialog: "{name}とのチャット",
      offline: "申し訳ありません。ただいまチャットに接続できません。しばらくしてからもう一度お試しください。",
      busy: "送信が続いています。少しお待ちください。",
      problem: "申し訳ありません。送信できませんでした。もう一度お試しください。"
    }
  };
  var lang = ((document.documentElement.getAttribute("lang") || navigator.language || "en").toLowerCase()).split("-")[0];
  var words = STRINGS[lang] || STRINGS.en;
  var who = { name: "", title: "", partner: "" };

  function t(name) {
    return words[name].replace(/\{(\w+)\}/g, function (_, field) { return who[field] || ""; });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  var css = "#haken-w{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.4 system-ui,sans-serif}" +
    "#haken-w button{cursor:pointer}#haken-w .hw-open{border:0;border-radius:24px;padding:10px 16px;background:#3730a3;color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.2)}" +
    "#haken-w .hw-box{display:none;width:340px;height:480px;max-height:calc(100vh - 40px);background:#fff;color:#111;border:1px solid #ddd;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.2);flex-direction:column;overflow:hidden}" +
    "#haken-w.open .hw-box{display:flex}#haken-w.open .hw-open{display:none}" +
    "#haken-w .hw-head{padding:10px 12px;background:#3730a3;color:#fff;display:flex;justify-content:space-between;align-items:center}" +
    "#haken-w .hw-head button{background:none;border:0;color:#fff;font-size:20px;line-height:1;padding:4px 8px}" +
    "#haken-w button:focus-visible,#haken-w input:focus-visible{outline:3px solid #f59e0b;outline-offset:1px}" +
    "#haken-w .hw-log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}" +
    "#haken-w .hw-m{max-width:85%;padding:6px 9px;border-radius:10px;background:#f0f1f6;white-space:pre-wrap}" +
    "#haken-w .hw-user{align-self:flex-end;background:#3730a3;color:#fff}" +
    "#haken-w .hw-typing{font-style:italic;color:#4b5563;padding:0 10px 6px;min-height:1.4em}" +
    "#haken-w .hw-coupon{margin-top:6px;border:2px dashed #3730a3;border-radius:8px;padding:6px;background:#fff;color:#111}" +
    "#haken-w .hw-coupon b{font-family:monospace;letter-spacing:.05em}" +
    "#haken-w .hw-err{color:#b42318;font-size:12px;padding:0 10px}" +
    "#haken-w form{display:flex;border-top:1px solid #eee}#haken-w input{flex:1;border:0;padding:10px;font:inherit;min-width:0}" +
    "#haken-w form button{border:0;background:#3730a3;color:#fff;padding:0 14px}" +
    // Phones: the open chat takes the whole screen, like the messengers shoppers know.
    "@media (max-width:600px){#haken-w.open{inset:0;right:0;bottom:0}" +
    "#haken-w.open .hw-box{width:100vw;height:100vh;height:100dvh;max-height:none;border-radius:0;border:0}}";

  function styles() {
    // A constructed stylesheet is CSSOM, which no Content-Security-Policy governs: the widget
    // keeps its looks on pages whose style-src has no 'unsafe-inline' (Haken's own preview on
    // the widget page among them). Browsers without constructed stylesheets get a <style>.
    if ("adoptedStyleSheets" in document) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(css);
        document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
        return;
      } catch (e) { /* fall through */ }
    }
    document.head.appendChild(el("style", {}, css));
  }

  function call(method, url, body) {
    return fetch(url, {
      method: method, headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined, credentials: "omit"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var failure = new Error("refused");
          failure.status = response.status;
          throw failure;
        }
        return data;
      });
    });
  }

  // What a shopper may read about a failure: never the platform's message (it is written for
  // the partner: origins, placements, keys), never the browser's "Failed to fetch".
  function shopperMessage(failure) {
    if (failure && failure.status === 429) { return t("busy"); }
    if (failure && failure.status) { return t("problem"); }
    return t("offline");
  }

  function build() {
    styles();
    var root = el("div", { id: "haken-w", lang: lang === "ja" ? "ja" : "en" });
    var opener = el("button", { "class": "hw-open", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" },
      t("launcher"));
    var box = el("div", { "class": "hw-box", role: "dialog", "aria-modal": "false", "aria-label": t("dialog") });
    var head = el("div", { "class": "hw-head" });
    var title = el("span", { "class": "hw-title" }, who.name + " · " + who.title);
    var close = el("button", { type: "button", "aria-label": t("close") }, "×");
    var log = el("div", { "class": "hw-log", role: "log", "aria-live": "polite" });
    var typing = el("div", { "class": "hw-typing", "aria-live": "polite" });
    var error = el("div", { "class": "hw-err", role: "alert" });
    var form = el("form", {});
    var input = el("input", { name: "message", maxlength: "2000", placeholder: t("placeholder"), "aria-label": t("message"),
      autocomplete: "off" });
    var send = el("button", { type: "submit" }, t("send"));
    head.appendChild(title); head.appendChild(close);
    form.appendChild(input); form.appendChild(send);
    box.appendChild(head); box.appendChild(log); box.appendChild(typing); box.appendChild(error); box.appendChild(form);
    root.appendChild(opener); root.appendChild(box);
    document.body.appendChild(root);

    var greeted = false;
    function greet() {
      if (greeted) { return; }
      greeted = true;
      var bubble = el("div", { "class": "hw-m hw-bot hw-greeting" }, t("greeting"));
      log.insertBefore(bubble, log.firstChild);
    }

    function open() {
      greet();
      root.classList.add("open");
      opener.setAttribute("aria-expanded", "true");
      input.focus();
    }
    function shut() {
      root.classList.remove("open");
      opener.setAttribute("aria-expanded", "false");
      opener.focus();  // focus goes back where the shopper was
    }
    opener.addEventListener("click", open);
    close.addEventListener("click", shut);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); shut(); return; }
      if (event.key !== "Tab") { return; }
      // Keep Tab inside the open chat: from the last control back to the first, and back.
      var focusable = [close, input, send].filter(function (node) { return !node.disabled; });
      var first = focusable[0], last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    });

    function save() { try { window.sessionStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* private mode */ } }

    function show(message) {
      if (message.id <= state.last) { return; }
      state.last = message.id; save();
      var bubble = el("div", { "class": "hw-m " + (message.role === "user" ? "hw-user" : "hw-bot") },
        (message.sender ? message.sender + ": " : "") + message.content);
      if (message.coupon) {
        var coupon = el("div", { "class": "hw-coupon" });
        coupon.appendChild(el("b", {}, message.coupon.code));
        coupon.appendChild(document.createTextNode(" " + message.coupon.offer));
        bubble.appendChild(coupon);
      }
      log.appendChild(bubble);
      log.scrollTop = log.scrollHeight;
    }

    function setTyping(on) { typing.textContent = on ? t("typing") : ""; }

    function poll() {
      if (!state.conversation) { return; }
      var url = base + "/" + encodeURIComponent(state.conversation) + "/messages?key=" + encodeURIComponent(key) +
        "&token=" + encodeURIComponent(state.token) + "&after=" + state.last;
      call("GET", url).then(function (data) {
        data.messages.forEach(show);
        setTyping(data.pending);
        // The employee replies in seconds; a person who took over may take minutes.
        polling = data.pending ? window.setTimeout(poll, 1000)
          : (data.waiting_for_human ? window.setTimeout(poll, 5000) : null);
      }).catch(function (failure) {
        setTyping(false);
        if (failure && failure.status === 404) {  // the conversation is gone: start afresh
          state = { conversation: null, token: null, last: 0 }; save();
        } else { error.textContent = shopperMessage(failure); }
        polling = null;
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) { return; }
      error.textContent = "";
      send.disabled = true;
      var request = state.conversation
        ? call("POST", base + "/" + encodeURIComponent(state.conversation) + "/messages", { key: key, token: state.token, message: text })
        : call("POST", base, { key: key, message: text }).then(function (data) {
          state.conversation = data.conversation; state.token = data.token; save();
          return data;
        });
      request.then(function (data) {
        input.value = ""; show(data.message); setTyping(true);
        if (!polling) { polling = window.setTimeout(poll, 700); }
      }).catch(function (failure) { error.textContent = shopperMessage(failure); })
        .then(function () { send.disabled = false; input.focus(); });
    });

    if (state.conversation) { state.last = 0; greet(); poll(); }
  }

  // Ask first; draw the launcher only for an active placement on an allowed page. Any
  // failure (a refused origin has no CORS answer at all) leaves the page untouched.
  function start() {
    call("GET", api + "/config?key=" + encodeURIComponent(key)).then(function (config) {
      if (!config.enabled) { return; }
      who = { name: config.employee.name, title: config.employee.title, partner: config.partner };
      build();
    }).catch(function () { /* not for this page: stay invisible */ });
  }
  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
