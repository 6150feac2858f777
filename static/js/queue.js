// "Needs a label": one key per action on the highlighted item (n, p, s), j / k to move.
(function () {
  "use strict";
  var list = document.getElementById("queue");
  if (!list) return;
  var items = Array.prototype.slice.call(list.querySelectorAll(".queue-item"));
  var current = 0;
  var sent = false; // a second key press while the first label is on its way does nothing

  function highlight(index) {
    if (index < 0 || index >= items.length) return;
    items[current].classList.remove("current");
    items[current].setAttribute("aria-current", "false");
    current = index;
    items[current].classList.add("current");
    items[current].setAttribute("aria-current", "true");
    items[current].focus({ preventScroll: true });
    items[current].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    var key = event.key.toLowerCase();
    if (key === "j" || key === "arrowdown") { highlight(current + 1); event.preventDefault(); return; }
    if (key === "k" || key === "arrowup") { highlight(current - 1); event.preventDefault(); return; }
    var button = items[current].querySelector('button[data-key="' + key + '"]');
    if (!button || sent) return;
    sent = true;
    event.preventDefault();
    button.click();
  });

  items.forEach(function (item, index) {
    item.addEventListener("click", function () { highlight(index); });
  });
})();
