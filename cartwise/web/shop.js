// The Cartwise storefront: search with autocomplete, facets and query-understanding chips,
// product pages with similar items, alternatives and frequently-bought-together, a "for you"
// feed, a cart, and the shopping assistant's chat panel. Every view, click, add-to-cart and purchase is sent as an event with the
// request_id of the answer that showed the item, so the feed follows the shopper live.
"use strict";
const $ = (id) => document.getElementById(id);
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c])); }
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
// A `search` key (answers) and an `events` key (behaviour), put in the page by the server
// (`serve --page-key`, `--page-events-key`; the demo sets both), or one pasted when asked.
let apiKey = meta("cartwise-key") || localStorage.getItem("cartwise-key") || "";
const eventsKey = meta("cartwise-events-key");
let askedForKey = false;

async function api(path) {
  let r = await fetch(path, apiKey ? {headers: {"Authorization": `Bearer ${apiKey}`}} : {});
  if (r.status === 401 && !askedForKey) {
    askedForKey = true;
    const pasted = (prompt("This Cartwise server needs an API key with scope 'search' (cartwise keys create --scope search):") || "").trim();
    if (pasted) { apiKey = pasted; localStorage.setItem("cartwise-key", pasted); r = await fetch(path, {headers: {"Authorization": `Bearer ${apiKey}`}}); }
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

// The shopper: a known user id, or a new visitor with an id of its own kept in this browser.
function newVisitorId() { return "visitor-" + Math.random().toString(36).slice(2, 10); }
let shopper = JSON.parse(localStorage.getItem("cartwise-shopper") || "null") || {id: newVisitorId(), visitor: true};
function setShopper(id, visitor) {
  shopper = {id, visitor};
  localStorage.setItem("cartwise-shopper", JSON.stringify(shopper));
  $("who").textContent = visitor ? "a new visitor" : `shopper ${id}`;
  $("who").dataset.user = id;
  renderCartCount();
}

// What the shopper did, sent with the request_id and position of the answer that showed the
// item. Without an events key the page still works but records nothing.
let sent = 0;
async function track(type, item, extra = {}) {
  if (!eventsKey) return false;
  const event = {user_id: shopper.id, item_id: item.item_id, event_type: type, timestamp: Date.now(), ...extra};
  if (item.request_id) event.request_id = item.request_id;
  if (item.position != null) event.position = item.position;
  const r = await fetch("/v1/events", {method: "POST", headers: {"Authorization": `Bearer ${eventsKey}`, "Content-Type": "application/json"},
    body: JSON.stringify({events: [event]})});
  if (r.ok) { sent += 1; document.body.dataset.eventsSent = String(sent); }
  return r.ok;
}

// Shoppers read why an item is shown; scores, model names and timings are for developers
// and appear only with "developer details" on.
function shopperReason(reason) {
  return String(reason ?? "").replace(/\s*\((?:similarity|score)[^)]*\)|\s*\((?:als|bpr)\)/gi, "");
}
$("dev").onchange = () => document.body.classList.toggle("dev-on", $("dev").checked);

// Items seen in any answer, by id, with where they were shown (for the product page and events).
const known = new Map();
function remember(items, requestId, placement) {
  items.forEach((item, i) => known.set(item.item_id, {...known.get(item.item_id), ...item, request_id: requestId, position: i + 1, placement}));
}
function money(item) {
  if (item.price == null) return "";
  try { return new Intl.NumberFormat(undefined, {style: "currency", currency: item.currency || "EUR"}).format(item.price); }
  catch (e) { return `${item.price.toFixed(2)} ${item.currency || ""}`; }
}
function hue(text) { let h = 0; for (const c of String(text)) h = (h * 31 + c.charCodeAt(0)) % 360; return h; }
// The catalog's image when it has one; else a tile coloured by category with the title's initials.
function thumb(item, big = false) {
  const image = item.image_url || item.image;
  if (image) return `<img class="thumb${big ? " big" : ""}" src="${esc(image)}" alt="" loading="lazy">`;
  const words = String(item.title || item.item_id).replace(/[^\p{L}\p{N} ]/gu, " ").split(/\s+/).filter(Boolean);
  const initials = (words[0]?.[0] || "?") + (words[1]?.[0] || "");
  const h = hue(item.category || item.title || "");
  return `<div class="thumb${big ? " big" : ""}" style="background:linear-gradient(135deg,hsl(${h} 55% 58%),hsl(${(h + 40) % 360} 60% 42%))" aria-hidden="true">${esc(initials.toUpperCase())}</div>`;
}
function stock(item) {
  if (item.in_stock === false) return `<span class="stock out">Out of stock</span>`;
  return item.in_stock ? `<span class="stock">In stock</span>` : "";
}
function devDetail(i) {
  const parts = [`score ${i.score}`];
  if (i.lexical_score != null) parts.push(`lexical ${i.lexical_score}`);
  if (i.semantic_score != null) parts.push(`semantic ${i.semantic_score}`);
  return `<div class="dev dev-detail">${esc(parts.join(" · "))} · ${esc(i.reason)}</div>`;
}
function card(item, reason) {
  const why = reason ?? shopperReason(item.reason);
  return `<article class="card" data-id="${esc(item.item_id)}" tabindex="0">${thumb(item)}<div class="body">
    <div class="title">${esc(item.title || item.item_id)}</div>
    <div><span class="price">${esc(money(item))}</span> ${stock(item)}</div>
    ${why ? `<div class="why">${esc(why)}</div>` : ""}${item.score != null ? devDetail(item) : ""}</div></article>`;
}
function cards(target, items, reasons) {
  if (!items.length) { target.innerHTML = `<p class="muted">Nothing to show here yet.</p>`; return; }
  target.innerHTML = items.map((item, i) => card(item, reasons ? reasons[i] : undefined)).join("");
  for (const el of target.querySelectorAll(".card")) {
    const open = () => { const item = known.get(el.dataset.id); track("click", item); location.hash = `#/item/${encodeURIComponent(el.dataset.id)}`; };
    el.onclick = open;
    el.onkeydown = (e) => { if (e.key === "Enter") open(); };
  }
}
function took(body) { return body.took_ms != null ? ` <span class="dev dev-detail">${esc(body.took_ms.toFixed(1))} ms · request ${esc(body.request_id)}</span>` : ""; }
function toast(text) { const t = $("toast"); t.textContent = text; t.hidden = false; clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 1800); }
const view = () => $("view");
function failed(e) { view().innerHTML = `<p class="error">${esc(e.message)}</p>`; }

// The "for you" feed: the shopper's recommendations (a new visitor's are what is popular).
async function forYou(target, k) {
  const body = await api(`/v1/users/${encodeURIComponent(shopper.id)}/recommendations?k=${k}`);
  remember(body.items, body.request_id, "for_you");
  target.dataset.requestId = body.request_id || "";
  cards(target, body.items);
  return body;
}
async function home() {
  view().innerHTML = `<h2 id="feed-title">For you</h2><p class="muted" id="feed-note"></p><div class="grid" id="feed"><div class="skeleton"></div><div class="skeleton"></div></div>`;
  const body = await forYou($("feed"), 24);
  $("feed-title").innerHTML = "For you" + took(body);
  $("feed-note").textContent = shopper.visitor ? "Popular right now. Look around: this feed follows what you view and put in your cart." : `Picked for shopper ${shopper.id} from their history and what they do now.`;
}

// Search: the query and the filters live in the address (#/search?q=...&category=...).
const FILTERS = ["category", "brand", "price_min", "price_max", "in_stock"];
function searchHash(params) { return "#/search?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString(); }
async function search(params) {
  const q = params.get("q") || "";
  $("q").value = q;
  const query = new URLSearchParams({q, k: "24", mode: $("mode").value, user_id: shopper.id});
  for (const f of FILTERS) if (params.get(f)) query.set(f, params.get(f));
  view().innerHTML = `<div class="skeleton"></div>`;
  const body = await api(`/v1/search?${query}`);
  remember(body.items, body.request_id, "search");
  const current = Object.fromEntries(params.entries());
  const active = FILTERS.filter(f => params.get(f)).map(f => `<button class="chip filter" data-drop="${f}" title="remove this filter">${esc(f.replace("_", " "))}: ${esc(params.get(f))} ✕</button>`).join("");
  // A translation is how the query was read, not a constraint: shown, not removable.
  const chips = body.chips.map(c => c.kind === "translation" ? `<span class="chip translation" title="${esc(c.applied)}">${esc(c.label)}</span>`
    : `<button class="chip removable ${c.applied.startsWith("filter") ? "filter" : ""}" title="${esc(c.applied)}; click to remove" data-text="${esc(c.text)}">${esc(c.label)} ✕</button>`).join("");
  const notes = [...Object.entries(body.corrections).map(([a, b]) => `Showing results for “${b}” instead of “${a}”`), ...body.relaxed].map(n => `<div class="note">${esc(n)}</div>`).join("");
  const f = body.facets || {};
  const facet = (name, key, values, label = (v) => v.value ?? v.label, apply = (v) => ({[key]: v.value})) => values && values.length ? `<div><h4>${name}</h4>${values.slice(0, 8).map((v, i) =>
    `<button data-facet="${esc(name)}" data-i="${i}">${esc(label(v))} <small>${v.count}</small></button>`).join("")}</div>` : "";
  const stockValues = f.in_stock ? [{value: "true", label: "In stock", count: f.in_stock.true ?? 0}].filter(v => v.count) : [];
  view().innerHTML = `<div class="layout"><aside class="facets" aria-label="filters">${facet("Category", "category", f.category, v => v.value.split(" > ").pop())}${facet("Brand", "brand", f.brand)}${facet("Price", "price", f.price, v => v.label)}${facet("Availability", "in_stock", stockValues, v => v.label)}</aside>
    <section><h2>${q ? `Results for “${esc(q)}”` : "All products"}${took(body)}</h2><div>${active}${chips}</div>${notes}
    <p class="muted">${body.total.toLocaleString()} matching<span class="dev"> · ${esc(body.mode)}</span></p><div class="grid" id="results"></div></section></div>`;
  cards($("results"), body.items);
  const lists = {Category: f.category, Brand: f.brand, Price: f.price, Availability: stockValues};
  for (const el of view().querySelectorAll("[data-facet]")) el.onclick = () => {
    const v = lists[el.dataset.facet][+el.dataset.i], next = {...current};
    if (el.dataset.facet === "Category") next.category = v.value;
    if (el.dataset.facet === "Brand") next.brand = v.value;
    if (el.dataset.facet === "Price") { next.price_min = v.min ?? ""; next.price_max = v.max ?? ""; }
    if (el.dataset.facet === "Availability") next.in_stock = "true";
    location.hash = searchHash(next);
  };
  for (const el of view().querySelectorAll("[data-drop]")) el.onclick = () => { const next = {...current}; delete next[el.dataset.drop]; location.hash = searchHash(next); };
  for (const el of view().querySelectorAll(".chip.removable")) el.onclick = () => { location.hash = searchHash({...current, q: q.replace(el.dataset.text, "").replace(/\s+/g, " ").trim()}); };
  if (eventsKey && q) track("search", {item_id: null, request_id: body.request_id}, {query: q}).catch(() => {});
}

// A product page: the item, then frequently bought together, alternatives and similar items,
// each with the reason it is shown, and the "for you" feed as it stands after this visit.
function relationReason(item) {
  const e = item.evidence || {};
  if (item.relation === "co_bought" && e.count) return `bought together by ${e.count} shoppers`;
  if (item.relation) return item.relation.replace(/_/g, " ");
  return shopperReason(item.reason);
}
async function product(id) {
  view().innerHTML = `<div class="skeleton"></div>`;
  const bundle = await api(`/v1/items/${encodeURIComponent(id)}/bundle?k=3&user_id=${encodeURIComponent(shopper.id)}`).catch(() => null);
  const self = bundle?.items.find(i => i.item_id === id);
  const item = {...(self || {}), ...(known.get(id) || {}), item_id: id};
  if (!item.title) { view().innerHTML = `<p class="error">There is no product ${esc(id)}.</p>`; return; }
  known.set(id, item);
  track("view", item);
  view().innerHTML = `<div class="product">${thumb(item, true)}<div>
      <p class="muted">${esc((item.category || "").split(" > ").join(" › "))}${item.brand ? " · " + esc(item.brand) : ""}</p>
      <h2 id="product-title">${esc(item.title)}</h2>
      <div><span class="price">${esc(money(item))}</span> ${stock(item)}</div>
      <div class="actions"><button id="add" ${item.in_stock === false ? "disabled" : ""}>Add to cart</button><button id="buy" class="ghost" ${item.in_stock === false ? "disabled" : ""}>Buy now</button></div>
      <div class="dev dev-detail">item ${esc(id)} · shown by ${esc(item.placement || "-")} request ${esc(item.request_id || "-")} at position ${esc(item.position ?? "-")}</div>
      <h3>Frequently bought together</h3><div id="bundle" class="rail"></div>
    </div></div>
    <h3>Alternatives</h3><div id="alternatives" class="rail"></div>
    <h3>Similar items</h3><div id="similar" class="rail"></div>
    <h3>For you, now</h3><div id="live-feed" class="rail"></div>`;
  $("add").onclick = () => addToCart(item);
  $("buy").onclick = async () => { await addToCart(item); location.hash = "#/cart"; };
  const together = (bundle?.items || []).filter(i => i.item_id !== id);
  if (bundle) remember(together, bundle.request_id, "bundle");
  cards($("bundle"), together, together.map(relationReason));
  const user = encodeURIComponent(shopper.id);
  api(`/v1/items/${encodeURIComponent(id)}/alternatives?k=6&user_id=${user}`).then(b => { remember(b.items, b.request_id, "alternatives"); cards($("alternatives"), b.items, b.items.map(relationReason)); }).catch(() => { $("alternatives").innerHTML = ""; });
  api(`/v1/items/${encodeURIComponent(id)}/similar?k=8&user_id=${user}`).then(b => { remember(b.items, b.request_id, "similar"); cards($("similar"), b.items); }).catch(e => { $("similar").innerHTML = `<p class="error">${esc(e.message)}</p>`; });
  refreshLiveFeed(600);
}
// The engine takes in new events within about a second; the feed is asked again after that.
function refreshLiveFeed(delay) {
  clearTimeout(refreshLiveFeed.timer);
  refreshLiveFeed.timer = setTimeout(() => { if ($("live-feed")) forYou($("live-feed"), 10).catch(() => {}); }, delay);
}

// The cart, kept in this browser per shopper; checkout sends one purchase event per line.
const cartKey = () => `cartwise-cart:${shopper.id}`;
const cart = () => JSON.parse(localStorage.getItem(cartKey()) || "[]");
function saveCart(lines) { localStorage.setItem(cartKey(), JSON.stringify(lines)); renderCartCount(); }
function renderCartCount() { $("cart-count").textContent = String(cart().reduce((n, l) => n + l.quantity, 0)); }
async function addToCart(item) {
  const lines = cart(), line = lines.find(l => l.item_id === item.item_id);
  if (line) line.quantity += 1;
  else lines.push({item_id: item.item_id, title: item.title, price: item.price, currency: item.currency, category: item.category, request_id: item.request_id, position: item.position, quantity: 1});
  saveCart(lines);
  const ok = await track("add_to_cart", item);
  toast(ok ? `Added “${item.title}” to your cart` : `Added “${item.title}” (not recorded: this page has no events key)`);
  refreshLiveFeed(1200);
}
function showCart() {
  const lines = cart();
  const total = lines.reduce((s, l) => s + (l.price || 0) * l.quantity, 0);
  view().innerHTML = `<h2>Your cart</h2>${lines.length ? lines.map((l, i) => `<div class="cart-row">${thumb(l)}<div class="grow"><a href="#/item/${encodeURIComponent(l.item_id)}">${esc(l.title)}</a><div class="muted">${esc(money(l))} × ${l.quantity}</div></div><button class="ghost" data-remove="${i}">Remove</button></div>`).join("")
    + `<p><b>Total ${esc(money({price: total, currency: lines[0].currency}))}</b></p><button id="checkout">Place order</button>` : `<p class="muted">Your cart is empty.</p>`}
    <h3>For you, now</h3><div id="live-feed" class="rail"></div>`;
  for (const el of view().querySelectorAll("[data-remove]")) el.onclick = () => { const next = cart(); next.splice(+el.dataset.remove, 1); saveCart(next); showCart(); };
  if ($("checkout")) $("checkout").onclick = async () => {
    for (const l of lines) await track("purchase", l, {value: l.quantity});
    saveCart([]);
    toast("Thank you for your order");
    showCart();
    refreshLiveFeed(1200);
  };
  refreshLiveFeed(0);
}

// Autocomplete: suggestions as the shopper types; arrows and Enter choose one.
let pending, chosen = -1;
function closeSuggestions() { $("suggestions").hidden = true; chosen = -1; }
$("q").oninput = () => {
  clearTimeout(pending);
  pending = setTimeout(async () => {
    const q = $("q").value.trim();
    if (!q) { closeSuggestions(); return; }
    try {
      const body = await api(`/v1/autocomplete?k=8&q=${encodeURIComponent(q)}`);
      if ($("q").value.trim() !== q) return;
      $("suggestions").innerHTML = body.suggestions.map((s, i) => `<li role="option" data-i="${i}" data-text="${esc(s.text)}">${esc(s.text)} <small>${esc(s.kind)}</small></li>`).join("");
      $("suggestions").hidden = !body.suggestions.length;
      for (const li of $("suggestions").querySelectorAll("li")) li.onmousedown = (e) => { e.preventDefault(); $("q").value = li.dataset.text; closeSuggestions(); go(); };
    } catch (e) { closeSuggestions(); }
  }, 120);
};
$("q").onkeydown = (e) => {
  const items = [...$("suggestions").querySelectorAll("li")];
  if ($("suggestions").hidden || !items.length) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    chosen = (chosen + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    items.forEach((li, i) => li.setAttribute("aria-selected", String(i === chosen)));
    $("q").value = items[chosen].dataset.text;
  } else if (e.key === "Escape") { e.preventDefault(); closeSuggestions(); }
};
$("q").onblur = () => setTimeout(closeSuggestions, 150);
function go() { closeSuggestions(); if ($("q").value.trim()) location.hash = searchHash({q: $("q").value.trim()}); }
$("search-form").onsubmit = (e) => { e.preventDefault(); go(); };

// Browse as any shopper, or as a new visitor (a fresh id, so a fresh history).
$("as-form").onsubmit = (e) => { e.preventDefault(); const u = $("user").value.trim(); if (u) { setShopper(u, false); route(); } };
$("new-visitor").onclick = () => { setShopper(newVisitorId(), true); $("user").value = ""; location.hash = "#/"; route(); };
$("try-user").onclick = (e) => { e.preventDefault(); $("user").value = $("user-form").dataset.exampleUser; $("as-form").requestSubmit(); };

// The shopping assistant: a chat panel on every page. One conversation id per chat (the API
// keeps its context: "does it come in blue?" after a product question is about that product);
// on a product page the open product's id goes with each message. Answers show how the
// message was read (route and confidence), the quoted evidence with its source, a shopping
// request's products, a hand-off when the evidence was not good enough, and "was this
// helpful?", posted to /v1/assist/feedback. Everything the server or the shopper wrote is escaped.
const ROUTES = {product: "Product question", store: "Store question", shopping: "Shopping request"};
const chat = {conversation: null, busy: false, turns: 0};
function newConversation() {
  chat.conversation = "chat-" + Math.random().toString(36).slice(2, 12);
  chat.turns = 0;
  $("chat-log").innerHTML = `<div class="msg bot intro">Hello! Ask me about a product (open its page first), about delivery and returns, or tell me what you are looking for, like “a gift for a gardener under 20”.</div>`;
  $("chat-log").dataset.conversation = chat.conversation;
  $("chat-error").hidden = true;
}
function openItemId() {
  const path = location.hash.slice(1).split("?")[0];
  return path.startsWith("/item/") ? decodeURIComponent(path.slice(6)) : null;
}
function chatAbout() {
  const id = openItemId();
  const title = id && (known.get(id)?.title || id);
  $("chat-about").innerHTML = id ? `Asking about <b>${esc(title)}</b>` : "";
  $("chat-about").hidden = !id;
}
function openChat() {
  if (!chat.conversation) newConversation();
  chatAbout();
  $("chat").hidden = false;
  $("chat-open").setAttribute("aria-expanded", "true");
  $("chat-open").hidden = true;
  $("chat-input").focus();
}
function closeChat() {
  $("chat").hidden = true;
  $("chat-open").hidden = false;
  $("chat-open").setAttribute("aria-expanded", "false");
  $("chat-open").focus();
}
// A failed call, in words a shopper can act on (the server's own message for a 4xx).
function chatProblem(status, body) {
  const said = body && body.message ? `: ${body.message}` : "";
  if (status === 401 || status === 403) return `The assistant is not available on this page (HTTP ${status}): its key may not ask it.`;
  if (status === 404) return `The assistant could not find that${said} (HTTP 404).`;
  if (status === 413 || status === 422) return `That message could not be sent${said} (HTTP ${status}).`;
  if (status === 429) return "Too many questions at once: wait a moment and try again (HTTP 429).";
  if (status >= 500) return `The assistant is not answering right now (HTTP ${status}). Please try again in a moment.`;
  return `The assistant could not answer${said} (HTTP ${status}).`;
}
async function post(path, body) {
  let r;
  try {
    r = await fetch(path, {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", ...(apiKey ? {"Authorization": `Bearer ${apiKey}`} : {})}});
  } catch (e) { throw new Error("Could not reach the store: check your connection and try again."); }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) { const error = new Error(chatProblem(r.status, data)); error.status = r.status; throw error; }
  return data;
}
function bubble(kind, html) {
  const el = document.createElement("div");
  el.className = `msg ${kind}`;
  el.innerHTML = html;
  $("chat-log").append(el);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
  return el;
}
// Where a quote comes from: in words for the shopper, then the exact source (kind, item, document).
const KINDS = {faq: "our FAQ", policy: "our policies", bullets: "the product's highlights", specs: "the product's specifications",
  reviews: "shoppers' reviews", qa: "shoppers' questions and answers", description: "the product description",
  catalog_description: "the product description", title: "the product listing", attribute: "the product listing"};
function quote(e, best) {
  return `<figure class="evidence${best ? " best" : ""}" data-doc="${esc(e.doc_id)}"><blockquote>${esc(e.text)}</blockquote>
    <figcaption>From <cite>${esc(KINDS[e.kind] || e.kind)}</cite> · <span class="source">${esc(e.source)}</span><span class="dev dev-detail"> · score ${esc(e.score)}</span></figcaption></figure>`;
}
function answerHtml(a) {
  const sure = `${Math.round((a.confidence || 0) * 100)}% sure`;
  const evidence = a.evidence || [];
  // A reply that is the quote of the best evidence is shown once: as the quote, with its source.
  const quoted = !a.handoff && evidence.length && a.reply.includes(evidence[0].text);
  const parts = [`<div class="route" data-route="${esc(a.route)}">${esc(ROUTES[a.route] || a.route)} <span class="muted">· ${esc(sure)}</span></div>`,
    quoted ? "" : `<p class="reply" lang="${esc(a.language)}">${esc(a.reply)}</p>`];
  if (a.handoff) {
    parts.push(`<div class="handoff" role="note"><b>Handed to a person.</b> Rather than guess, I passed it to our team. You can also
      ask it another way.</div>`);
    if (evidence.length) parts.push(`<details class="closest"><summary>The closest I found (not reliable enough to answer)</summary>${evidence.map(e => quote(e, false)).join("")}</details>`);
  } else if (evidence.length) {
    parts.push(`<div class="evidence-list" aria-label="evidence">${quote(evidence[0], true)}${evidence.length > 1
      ? `<details><summary>${evidence.length - 1} more source${evidence.length > 2 ? "s" : ""}</summary>${evidence.slice(1).map(e => quote(e, false)).join("")}</details>` : ""}</div>`);
  }
  if (a.route === "shopping") {
    const chips = (a.chips || []).filter(c => c.kind !== "translation").map(c => `<span class="chip" title="${esc(c.applied)}">${esc(c.label)}</span>`).join("");
    if (chips) parts.push(`<div class="chat-chips">${chips}</div>`);
    if ((a.items || []).length) parts.push(`<div class="chat-cards"></div><a class="see-all" href="${esc(searchHash({q: a.query}))}">See all results for “${esc(a.query)}”</a>`);
  }
  parts.push(`<div class="helpful" role="group" aria-label="was this answer helpful?"><span>Was this helpful?</span>
    <button type="button" data-helpful="true" aria-pressed="false">Yes</button><button type="button" data-helpful="false" aria-pressed="false">No</button>
    <span class="thanks" role="status"></span></div>
    <div class="dev dev-detail">answer ${esc(a.answer_id)} · conversation ${esc(a.conversation_id)} · ${esc(a.took_ms)} ms</div>`);
  return parts.join("");
}
function showAnswer(a) {
  const el = bubble(`bot${a.handoff ? " handed-off" : ""}`, answerHtml(a));
  el.dataset.answerId = a.answer_id;
  el.dataset.route = a.route;
  const target = el.querySelector(".chat-cards");
  if (target) {
    remember(a.items, a.request_id, "assistant");
    cards(target, a.items);
    // On a phone the panel covers the page: a product opened from it is shown with the panel closed.
    target.addEventListener("click", () => { if (window.matchMedia("(max-width: 760px)").matches) closeChat(); });
  }
  for (const button of el.querySelectorAll("[data-helpful]")) button.onclick = () => rate(el, a.answer_id, button.dataset.helpful === "true");
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
}
async function rate(el, answerId, helpful) {
  const thanks = el.querySelector(".thanks");
  try {
    await post("/v1/assist/feedback", {answer_id: answerId, helpful});
    for (const b of el.querySelectorAll("[data-helpful]")) b.setAttribute("aria-pressed", String((b.dataset.helpful === "true") === helpful));
    thanks.className = "thanks";
    thanks.textContent = helpful ? "Thanks!" : "Thanks: we will use this to improve.";
    el.dataset.rated = String(helpful);
  } catch (e) { thanks.className = "thanks error"; thanks.textContent = e.message; }
}
async function ask(message) {
  if (chat.busy || !message) return;
  chat.busy = true;
  $("chat-send").disabled = true;
  $("chat-error").hidden = true;
  bubble("me", esc(message));
  const typing = bubble("bot typing", `<span aria-label="the assistant is answering">…</span>`);
  const body = {message, conversation_id: chat.conversation, user_id: shopper.id};
  const item = openItemId();
  if (item) body.item_id = item;
  try {
    const answer = await post("/v1/assist", body);
    typing.remove();
    chat.turns += 1;
    showAnswer(answer);
  } catch (e) {
    typing.remove();
    $("chat-error").textContent = e.message;
    $("chat-error").hidden = false;
  } finally {
    chat.busy = false;
    $("chat-send").disabled = false;
    $("chat-input").focus();
  }
}
$("chat-open").onclick = openChat;
$("chat-close").onclick = closeChat;
$("chat-new").onclick = () => { newConversation(); $("chat-input").focus(); };
$("chat").addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); closeChat(); } });
$("chat-form").onsubmit = (e) => {
  e.preventDefault();
  const message = $("chat-input").value.trim();
  if (!message || chat.busy) return;
  $("chat-input").value = "";
  ask(message);
};

async function route() {
  const [path, query] = location.hash.slice(1).split("?");
  document.body.dataset.page = path.startsWith("/item/") ? "product" : path.replace(/^\//, "") || "home";
  try {
    if (path.startsWith("/item/")) await product(decodeURIComponent(path.slice(6)));
    else if (path === "/search") await search(new URLSearchParams(query || ""));
    else if (path === "/cart") showCart();
    else await home();
  } catch (e) { failed(e); }
  if (!$("chat").hidden) chatAbout();
  document.body.dataset.ready = "true";
}
window.addEventListener("hashchange", route);
setShopper(shopper.id, shopper.visitor);
// Store statistics need an admin key; a storefront holds a search key, so it counts by browsing.
Promise.all([api("/v1/search?in_stock=true&k=1&facets=false"), api("/v1/health")]).then(([s, h]) => $("status").innerHTML = `${esc(s.total.toLocaleString())} products in stock<span class="dev"> · catalog v${esc(h.catalog_version)} · events v${esc(h.events_version)} · model ${esc(h.model_version || "not trained")}</span>`).catch(() => {});
route();
