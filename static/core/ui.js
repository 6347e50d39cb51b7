// Site-wide behaviour that the Content-Security-Policy keeps out of the templates
// (script-src 'self': no inline scripts or handlers).
//  - The main menu folds behind a "Menu" button on narrow screens (the button is hidden and
//    the menu open when this script does not run).
//  - A table wider than its card scrolls inside it, as does a long code sample (<pre>); a
//    scrolling region must be reachable by keyboard (WCAG 2.1.1), so it gets a tab stop and a
//    name only while it does scroll.
(function () {
  "use strict";

  var NARROW = window.matchMedia("(max-width: 1023px)");

  function setUpMenu() {
    var header = document.querySelector(".topbar");
    var toggle = header && header.querySelector(".menu-toggle");
    var menu = document.getElementById("site-menu");
    if (!toggle || !menu) return;
    header.classList.add("has-menu-toggle");
    toggle.hidden = false;

    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      header.classList.toggle("menu-open", open);
    }
    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true" && NARROW.matches) {
        setOpen(false);
        toggle.focus();
      }
    });
    NARROW.addEventListener("change", function () { setOpen(false); });
  }

  function markScrollingTables(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var boxes = scope.querySelectorAll(".table-scroll, main pre");
    Array.prototype.forEach.call(boxes, function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        var caption = box.querySelector("caption");
        var heading = box.closest("section, .panel");
        heading = heading && heading.querySelector("h2, h3");
        var name = (caption || heading) ? (caption || heading).textContent.trim()
          : (box.tagName === "PRE" ? "Code sample" : "Table");
        box.setAttribute("aria-label", name + " (scrolls sideways)");
      } else if (box.hasAttribute("tabindex")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpMenu();
    markScrollingTables(document);
  });
  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) window.cancelAnimationFrame(pending);
    pending = window.requestAnimationFrame(function () { markScrollingTables(document); });
  });
  document.addEventListener("htmx:afterSettle", function () { markScrollingTables(document); });
})();
