// The andon board's live updates (station/web/app.py): the server pushes the board's
// HTML fragment (rendered and escaped by the server) over server-sent events; this
// applies it in place, replacing only what changed, so the page never reloads and a
// focused link keeps its focus when its tile did not change.
"use strict";
(function () {
  const board = document.getElementById("board");
  const link = document.getElementById("link");
  if (!board) {
    return;
  }

  function keyed(parent) {
    return Array.from(parent.children).filter((child) => child.dataset.key !== undefined);
  }

  // Make `target`'s keyed children those of `fresh`: same keys in the same order are
  // updated one by one (a `data-keyed` container recursively), anything else replaced.
  function reconcile(target, fresh) {
    const now = keyed(target);
    const next = keyed(fresh);
    const sameKeys =
      now.length === next.length && now.every((el, i) => el.dataset.key === next[i].dataset.key);
    if (!sameKeys) {
      target.replaceChildren(...Array.from(fresh.childNodes));
      return;
    }
    now.forEach((el, i) => {
      const incoming = next[i];
      if (el.outerHTML === incoming.outerHTML) {
        return;
      }
      if (el.hasAttribute("data-keyed") && incoming.hasAttribute("data-keyed")) {
        reconcile(el, incoming);
      } else {
        el.replaceWith(incoming);
      }
    });
  }

  function status(text, up) {
    if (link) {
      link.textContent = text;
      link.classList.toggle("up", up);
      link.classList.toggle("down", !up);
    }
  }

  const source = new EventSource(board.dataset.stream);
  let updates = 0;
  source.addEventListener("open", () => status("live", true));
  source.addEventListener("error", () => status("connection lost: retrying", false));
  source.addEventListener("message", (message) => {
    const update = JSON.parse(message.data);
    const template = document.createElement("template");
    template.innerHTML = update.html;
    reconcile(board, template.content);
    updates += 1;
    board.dataset.updates = String(updates);
    status("live", true);
  });
  window.addEventListener("pagehide", () => source.close());
})();
