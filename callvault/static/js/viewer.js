// Find in transcript: hide lines that do not match and mark the matches. Built with text nodes
// only, so a transcript's text is never parsed as HTML.
// A line's time that links into the recording opens it in a new tab, with no opener and no referrer,
// and says so in its tooltip: set here once rather than written on each of 5,000 lines.
(function () {
  "use strict";
  var list = document.getElementById("transcript");
  if (!list) return;
  function recordingLink(event) {
    var link = event.target.closest && event.target.closest("a.ts");
    return link && list.contains(link) ? link : null;
  }
  list.addEventListener("click", function (event) {
    var link = recordingLink(event);
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    window.open(link.href, "_blank", "noopener,noreferrer");
  });
  list.addEventListener("mouseover", function (event) {
    var link = recordingLink(event);
    if (link && !link.title) link.title = "Open the recording at " + link.textContent;
  });
})();

(function () {
  "use strict";
  var input = document.getElementById("find");
  var list = document.getElementById("transcript");
  if (!input || !list) return;
  var count = document.getElementById("find-count");
  var lines = null;  // read on the first search, not while a long transcript is loading
  var timer = null;

  function read() {
    return Array.prototype.map.call(list.querySelectorAll("li.seg"), function (li) {
      var text = li.querySelector(".text");
      return { li: li, text: text, original: text.textContent,
               haystack: li.textContent.toLowerCase(), marked: false };
    });
  }

  function mark(line, needle) {
    var source = line.original, lower = source.toLowerCase(), at = 0, hit;
    var fragment = document.createDocumentFragment();
    while (needle && (hit = lower.indexOf(needle, at)) !== -1) {
      fragment.appendChild(document.createTextNode(source.slice(at, hit)));
      var m = document.createElement("mark");
      m.textContent = source.slice(hit, hit + needle.length);
      fragment.appendChild(m);
      at = hit + needle.length;
    }
    fragment.appendChild(document.createTextNode(source.slice(at)));
    line.text.replaceChildren(fragment);
    line.marked = Boolean(needle);
  }

  function apply() {
    var needle = input.value.trim().toLowerCase(), shown = 0;
    lines = lines || read();
    lines.forEach(function (line) {
      var hit = !needle || line.haystack.indexOf(needle) !== -1;
      line.li.hidden = !hit;
      if (hit) shown += 1;
      if (hit && needle) mark(line, needle);
      else if (line.marked) mark(line, "");
    });
    list.classList.toggle("finding", Boolean(needle));
    count.textContent = needle ? shown + " of " + lines.length + " lines" : "";
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 150);
  });
})();
