/* Haken chat widget: <script src="https://<haken>/static/agents/widget.js" data-haken-key="pk_…" async></script>
 * Opens a small chat with the partner's digital employee; replies are polled from the
 * platform; a coupon the employee issues is shown as a code the shopper can copy.
 * No dependencies, no cookies: the conversation's token is kept in sessionStorage. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-haken-key]");
  if (!script) { return; }
  var key = script.getAttribute("data-haken-key");
  var base = new URL(script.src, window.location.href).origin + "/api/v1/widget/conversations";
  var storeKey = "haken-widget:" + key;
  var state = JSON.parse(window.sessionStorage.getItem(storeKey) || "null") || { conversation: null, token: null, last: 0 };
  var polling = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  var css = "#haken-w{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.4 system-ui,sans-serif}" +
    "#haken-w button{cursor:pointer}#haken-w .hw-open{border:0;border-radius:24px;padding:10px 16px;background:#4f46e5;color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.2)}" +
    "#haken-w .hw-box{display:none;width:320px;height:420px;background:#fff;border:1px solid #ddd;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.2);flex-direction:column;overflow:hidden}" +
    "#haken-w.open .hw-box{display:flex}#haken-w.open .hw-open{display:none}" +
    "#haken-w .hw-head{padding:10px 12px;background:#4f46e5;color:#fff;display:flex;justify-content:space-between}" +
    "#haken-w .hw-head button{background:none;border:0;color:#fff;font-size:16px}" +
    "#haken-w .hw-log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}" +
    "#haken-w .hw-m{max-width:85%;padding:6px 9px;border-radius:10px;background:#f0f1f6;white-space:pre-wrap}" +
    "#haken-w .hw-user{align-self:flex-end;background:#4f46e5;color:#fff}" +
    "#haken-w .hw-coupon{margin-top:6px;border:2px dashed #4f46e5;border-radius:8px;padding:6px;background:#fff;color:#111}" +
    "#haken-w .hw-coupon b{font-family:monospace;letter-spacing:.05em}" +
    "#haken-w .hw-err{color:#b42318;font-size:12px;padding:0 10px}" +
    "#haken-w form{display:flex;border-top:1px solid #eee}#haken-w input{flex:1;border:0;padding:10px;font:inherit}" +
    "#haken-w form button{border:0;background:#4f46e5;color:#fff;padding:0 14px}";
  // A constructed stylesheet is CSSOM, which no Content-Security-Policy governs: the widget
  // keeps its looks on pages whose style-src has no 'unsafe-inline' (Haken's own preview on
  // the widget page among them). Browsers without constructed stylesheets (before Safari 16.4,
  // Firefox 101) get a <style> element instead, which such a policy would refuse.
  var adopted = false;
  if ("adoptedStyleSheets" in document) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      adopted = true;
    } catch (e) { adopted = false; }
  }
  if (!adopted) { document.head.appendChild(el("style", {}, css)); }

  var root = el("div", { id: "haken-w" });
  var opener = el("button", { "class": "hw-open", type: "button" }, "Chat with us");
  var box = el("div", { "class": "hw-box", role: "dialog", "aria-label": "Chat" });
  var head = el("div", { "class": "hw-head" });
  var title = el("span", {}, "Chat");
  var close = el("button", { type: "button", "aria-label": "Close" }, "×");
  var log = el("div", { "class": "hw-log", "aria-live": "polite" });
  var error = el("div", { "class": "hw-err", role: "alert" });
  var form = el("form", {});
  var input = el("input", { name: "message", maxlength: "2000", placeholder: "Ask me anything…", "aria-label": "Message", autocomplete: "off" });
  var send = el("button", { type: "submit" }, "Send");
  head.appendChild(title); head.appendChild(close);
  form.appendChild(input); form.appendChild(send);
  box.appendChild(head); box.appendChild(log); box.appendChild(error); box.appendChild(form);
  root.appendChild(opener); root.appendChild(box);
  document.body.appendChild(root);

  opener.addEventListener("click", function () { root.classList.add("open"); input.focus(); });
  close.addEventListener("click", function () { root.classList.remove("open"); });

  function save() { window.sessionStorage.setItem(storeKey, JSON.stringify(state)); }

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

  function call(method, url, body) {
    return fetch(url, {
      method: method, headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined, credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error((data.error && data.error.message) || "Something went wrong."); }
        return data;
      });
    });
  }

  function poll() {
    if (!state.conversation) { return; }
    var url = base + "/" + encodeURIComponent(state.conversation) + "/messages?key=" + encodeURIComponent(key) +
      "&token=" + encodeURIComponent(state.token) + "&after=" + state.last;
    call("GET", url).then(function (data) {
      data.messages.forEach(show);
      // The employee replies in seconds; a person who took over may take minutes.
      polling = data.pending ? window.setTimeout(poll, 1000)
        : (data.waiting_for_human ? window.setTimeout(poll, 5000) : null);
    }).catch(function (e) { error.textContent = e.message; polling = null; });
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
        title.textContent = data.employee.name + " · " + data.employee.title;
        return data;
      });
    request.then(function (data) {
      input.value = ""; show(data.message);
      if (!polling) { polling = window.setTimeout(poll, 700); }
    }).catch(function (e) { error.textContent = e.message; })
      .then(function () { send.disabled = false; });
  });

  if (state.conversation) { state.last = 0; poll(); }
})();
