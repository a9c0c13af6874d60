
"use strict";
// The freshness page's only script, inlined under a CSP hash (revocd/web/page.py).
// It adds the filter box and refreshes the table in place: it fetches this same page
// every data-refresh seconds and swaps in the new summary and rows, so the filter text,
// focus and scroll survive. The filter text is also kept in the URL (#q=...) so that a
// reload or a shared link keeps it. Without this script the page still works: a
// <noscript> meta refresh reloads it and there is no filter box.
(() => {
  const body = document.body;
  const every = Math.max(1, Number(body.dataset.refresh) || 30) * 1000;
  const note = document.getElementById("refresh-note");
  const slot = document.getElementById("filter-slot");
  const box = document.createElement("input");
  box.type = "search";
  box.id = "filter";
  box.autocomplete = "off";
  box.placeholder = "filter: partner, issuer, URL, state, reason";
  box.setAttribute("aria-label", "filter sources by partner, issuer, URL, state or reason");
  const shown = document.createElement("span");
  shown.id = "shown";
  shown.setAttribute("aria-live", "polite");
  slot.append(box, shown);
  slot.hidden = false;
  box.value = new URLSearchParams(location.hash.slice(1)).get("q") || "";

  const apply = () => {
    const terms = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = document.querySelectorAll("#sources-body tr[data-filter]");
    let count = 0;
    for (const row of rows) {
      const words = row.dataset.filter;
      const match = terms.every((term) => words.includes(term));
      row.hidden = !match;
      if (match) count += 1;
    }
    shown.textContent = terms.length ? `${count} of ${rows.length} shown` : "";
    const url = location.pathname + location.search;
    history.replaceState(null, "", box.value ? `${url}#q=${encodeURIComponent(box.value)}` : url);
  };

  const refresh = async () => {
    try {
      const response = await fetch(location.pathname + location.search, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of ["summary", "sources-body"]) {
        const next = page.getElementById(id);
        if (next) document.getElementById(id).replaceWith(document.adoptNode(next));
      }
      body.classList.remove("offline");
      note.textContent = "";
    } catch (error) {
      body.classList.add("offline");
      note.textContent = `Refresh failed (${error.message}): the table below may be out of date.`;
    }
    apply();
    setTimeout(refresh, every);
  };

  box.addEventListener("input", apply);
  apply();
  setTimeout(refresh, every);
})();
