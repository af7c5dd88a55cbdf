// The approval page's keyboard and live list. Without this script the page is plain forms that
// post and reload; with it, decisions are posted in the background, the list follows the
// server's feed (GET /approvals/events/, Server-Sent Events) and the keys of the page's
// "Keyboard" box work: j/k select, a approves, r focuses the reason, Enter rejects.
(function () {
  "use strict";

  const list = document.getElementById("approval-list");
  const status = document.getElementById("live-status");
  if (!list || !status) {
    return;
  }
  const empty = document.getElementById("approvals-empty");
  const count = document.getElementById("pending-count");
  const title = document.title;

  function cards() {
    return Array.from(list.querySelectorAll("article.approval"));
  }

  function selectedCard() {
    return list.querySelector("article.approval.selected");
  }

  // Select a card; focus it too (for keyboard moves), unless focus says otherwise.
  function select(card, focus) {
    const current = selectedCard();
    if (current && current !== card) {
      current.classList.remove("selected");
      current.removeAttribute("aria-current");
    }
    if (!card) {
      return;
    }
    card.classList.add("selected");
    card.setAttribute("aria-current", "true");
    if (focus !== false && !card.contains(document.activeElement)) {
      card.focus({ preventScroll: true });
    }
    card.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = cards();
    if (all.length === 0) {
      return;
    }
    const at = all.indexOf(selectedCard());
    const next = at < 0 ? 0 : Math.min(Math.max(at + step, 0), all.length - 1);
    select(all[next]);
  }

  // After the list changed: the count, the title, the empty note, and a selection if any.
  function refresh() {
    const all = cards();
    count.textContent = "(" + all.length + ")";
    document.title = all.length ? "(" + all.length + ") " + title : title;
    empty.hidden = all.length > 0;
    if (!selectedCard() && all.length) {
      select(all[0], false);
    }
  }

  // Remove a card; the one after it (or before it) becomes the selection if it was selected.
  function drop(card) {
    if (card.classList.contains("selected")) {
      const all = cards();
      const at = all.indexOf(card);
      const next = all[at + 1] || all[at - 1] || null;
      const focused = card.contains(document.activeElement);
      card.remove();
      select(next, focused);
    } else {
      card.remove();
    }
  }

  function announce(text, kind) {
    let messages = document.querySelector("ul.messagelist");
    if (!messages) {
      messages = document.createElement("ul");
      messages.className = "messagelist";
      const main = document.getElementById("content-start") || document.body;
      main.insertBefore(messages, main.firstChild);
    }
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = text;
    messages.replaceChildren(item);
  }

  // --- The live list ----------------------------------------------------------------------

  function parseCard(html) {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    return holder.content.firstElementChild;
  }

  // data: {ids: the calls waiting now, in order; cards: {id: html} for those not sent before}.
  function apply(data) {
    const wanted = new Set(data.ids);
    for (const card of cards()) {
      if (!wanted.has(card.dataset.call)) {
        drop(card);
      }
    }
    let previous = null;
    for (const id of data.ids) {
      let card = document.getElementById("call-" + id);
      if (!card && data.cards[id]) {
        card = parseCard(data.cards[id]);
        card.classList.add("arrived");
      }
      if (!card) {
        continue; // decided between the feed's two reads: the next event drops it
      }
      const place = previous ? previous.nextElementSibling : list.firstElementChild;
      if (card !== place) {
        list.insertBefore(card, place);
      }
      previous = card;
    }
    refresh();
  }

  function connect() {
    if (!window.EventSource) {
      return;
    }
    const source = new EventSource(status.dataset.feed);
    source.addEventListener("open", function () {
      status.textContent = "Live: calls appear and disappear here as they arrive or are decided.";
      status.dataset.state = "live";
    });
    source.addEventListener("approvals", function (event) {
      apply(JSON.parse(event.data));
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        status.textContent = "Live updates stopped (signed out?): reload the page.";
        status.dataset.state = "stopped";
      } else {
        status.textContent = "Reconnecting to the live list…";
        status.dataset.state = "reconnecting";
      }
    });
  }

  // --- Decisions ----------------------------------------------------------------------------

  list.addEventListener("submit", async function (event) {
    const form = event.target;
    const card = form.closest("article.approval");
    if (!card) {
      return;
    }
    event.preventDefault();
    const buttons = card.querySelectorAll("button");
    buttons.forEach(function (button) {
      button.disabled = true;
    });
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch (error) {
      form.submit(); // no answer: the plain form says what happened
      return;
    }
    const body = await response.json().catch(function () {
      return { error: "The server answered " + response.status + "." };
    });
    if (response.ok) {
      announce(body.message, "success");
      drop(card);
      refresh();
      return;
    }
    announce(body.error, "error");
    buttons.forEach(function (button) {
      button.disabled = false;
    });
  });

  // --- Keys ---------------------------------------------------------------------------------

  // A card clicked or tabbed into becomes the selection.
  list.addEventListener("focusin", function (event) {
    const card = event.target.closest("article.approval");
    if (card) {
      select(card, false);
    }
  });
  list.addEventListener("click", function (event) {
    const card = event.target.closest("article.approval");
    if (card) {
      select(card, false);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      // Enter in the reason field is the browser's own: it submits the reject form.
      if (event.key === "Escape") {
        const card = target.closest("article.approval");
        target.blur();
        if (card) {
          card.focus({ preventScroll: true });
        }
      }
      return;
    }
    const card = selectedCard();
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "a":
        if (!card) {
          return;
        }
        card.querySelector("form.approve-form").requestSubmit();
        break;
      case "r":
        if (!card) {
          return;
        }
        card.querySelector("form.reject-form input[name=reason]").focus();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  refresh();
  connect();
})();
