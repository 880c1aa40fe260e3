// The store console: a client of the platform's public REST API, with the signed-in staff
// member's bearer token. It hides nothing on purpose: every figure is whatever the services
// answer for that token, and a refusal is shown as one.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("console-config").textContent);
  const L = config.labels;
  const SESSION = "o2o.console.session";
  const NOTICE = "o2o.console.notice";
  const CHAIN_WIDE = new Set(["owner", "admin"]);
  const MANAGERS = new Set(["store_manager", "regional_manager", "owner", "admin"]);

  function t(key, ...values) {
    let text = L[key] ?? key;
    values.forEach((value, index) => { text = text.replace(`{${index}}`, String(value)); });
    return text;
  }

  // ---- elements ---------------------------------------------------------------------

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function table(headers, rows, empty) {
    if (!rows.length) return el("p", { class: "muted", text: empty || t("none") });
    return el("div", { class: "scroll" },
      el("table", {},
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
        el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell)))))));
  }

  function card(title, ...body) {
    return el("section", { class: "card" }, el("h2", { text: title }), ...body);
  }

  function notice(kind, text) {
    return el("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status", text });
  }

  function unavailable(service) {
    return notice("unavailable", t("unavailable", service));
  }

  const main = () => document.getElementById("main");

  // ---- session ----------------------------------------------------------------------

  function claimsOf(token) {
    const part = token.split(".")[1] || "";
    const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
    try {
      return JSON.parse(decodeURIComponent(escape(atob(padded))));
    } catch {
      return {};
    }
  }

  function session() {
    const raw = sessionStorage.getItem(SESSION);
    if (!raw) return null;
    const found = JSON.parse(raw);
    if (Date.now() >= found.expiresAt) {
      endSession("expired");
      return null;
    }
    return found;
  }

  function endSession(reason) {
    sessionStorage.removeItem(SESSION);
    if (reason) sessionStorage.setItem(NOTICE, reason);
  }

  // Once the page is leaving, calls still in flight must not rewrite why (a sign-out is not
  // an expiry because a request ended after it).
  let leaving = false;

  function signOut(reason) {
    if (leaving) return;
    leaving = true;
    endSession(reason);
    location.assign("/console/signin");
  }

  class SignedOut extends Error {}

  class ApiError extends Error {
    constructor(status, body) {
      super(body.message || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const current = session();
    if (!current) {
      signOut("expired");
      throw new SignedOut();
    }
    const headers = { Authorization: `Bearer ${current.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (response.status === 401) {
      signOut("expired");
      throw new SignedOut();
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  const get = (path) => api("GET", path);

  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") search.set(name, value);
    }
    const text = search.toString();
    return text ? `?${text}` : "";
  }

  async function allPages(path, params, key, limit = 5000) {
    const found = [];
    let token = "";
    do {
      const page = await get(path + query({ ...params, pageSize: 500, pageToken: token }));
      found.push(...(page[key] || []));
      token = page.nextPageToken || "";
    } while (token && found.length < limit);
    return found;
  }

  function problem(error) {
    if (error instanceof SignedOut) return null;
    if (error instanceof ApiError) {
      if (error.status === 403) return notice("error", t("error.denied"));
      if (error.status === 501 || error.status === 404 && !error.body.code) return notice("error", t("error.missing"));
      return notice("error", `${t("error.refused")} ${error.message}`);
    }
    return notice("error", `${t("error.network")} ${error.message || ""}`);
  }

  function available(service) {
    return config.services.includes(service);
  }

  // ---- figures ----------------------------------------------------------------------

  const locale = config.language === "zh-Hans" ? "zh-CN" : "en";
  const digits = {};

  function minorDigits(currency) {
    if (!(currency in digits)) {
      digits[currency] = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    }
    return digits[currency];
  }

  function money(value) {
    if (!value || !value.currencyCode) return "–";
    const amount = Number(value.amountMinor || 0) / 10 ** minorDigits(value.currencyCode);
    return new Intl.NumberFormat(locale, { style: "currency", currency: value.currencyCode }).format(amount);
  }

  const count = (value) => new Intl.NumberFormat(locale).format(Number(value || 0));
  const percent = (value) => new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(Number(value || 0));
  const decimal = (value) => new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(Number(value || 0));
  const when = (iso, timeZone) => iso ? new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(new Date(iso)) : "–";
  const seconds = (value) => `${decimal(value)} s`;

  function kpi(label, value, id) {
    return el("div", { class: "kpi", "data-kpi": id }, el("span", { class: "label", text: label }), el("strong", { text: value }));
  }

  // ---- store time --------------------------------------------------------------------

  function parts(date, timeZone) {
    const found = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(date).forEach((p) => { found[p.type] = p.value; });
    return found;
  }

  function offsetMs(timeZone, date) {
    const p = parts(date, timeZone);
    const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
    return asUtc - Math.floor(date.getTime() / 1000) * 1000;
  }

  function localMidnight(day, timeZone) {
    const [y, m, d] = day.split("-").map(Number);
    let guess = Date.UTC(y, m - 1, d);
    for (let i = 0; i < 3; i++) guess = Date.UTC(y, m - 1, d) - offsetMs(timeZone, new Date(guess));
    return new Date(guess);
  }

  function nextDay(day) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  }

  function dayWindow(day, timeZone) {
    return { start: localMidnight(day, timeZone).toISOString(), end: localMidnight(nextDay(day), timeZone).toISOString() };
  }

  function hourLabel(iso, timeZone) {
    const p = parts(new Date(iso), timeZone);
    return `${p.month}-${p.day} ${p.hour}:00`;
  }

  const today = (timeZone) => new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());
  const localHour = (iso, timeZone) => Number(parts(new Date(iso), timeZone).hour);

  // ---- the signed-in staff member's stores -----------------------------------------

  async function myStores(current) {
    if (CHAIN_WIDE.has(current.role)) return allPages("/v1/stores", {}, "stores");
    if (current.role === "regional_manager") return allPages("/v1/stores", { region: current.region }, "stores");
    const found = await Promise.all((current.stores || []).map((id) => get(`/v1/stores/${id}`).then((r) => r.store)));
    return found.filter(Boolean);
  }

  function storeLabel(store) {
    return `${store.code} · ${store.name}`;
  }

  function params() {
    return new URLSearchParams(location.search);
  }

  function remember(values) {
    const search = params();
    for (const [name, value] of Object.entries(values)) {
      if (value) search.set(name, value);
      else search.delete(name);
    }
    history.replaceState(null, "", `${location.pathname}?${search}`);
  }

  function storePicker(stores, chosen) {
    const select = el("select", { id: "store", name: "store", "aria-label": t("store") },
      stores.map((s) => el("option", { value: s.storeId, selected: s.storeId === chosen, text: storeLabel(s) })));
    if (chosen && !stores.some((s) => s.storeId === chosen)) {
      // A store named in the address but not among the caller's: asked for as it is, so
      // the service's answer (a refusal) is what the page shows.
      select.prepend(el("option", { value: chosen, selected: true, text: chosen }));
    }
    return select;
  }

  // ---- sign in ------------------------------------------------------------------------

  function signInPage() {
    const reason = sessionStorage.getItem(NOTICE);
    sessionStorage.removeItem(NOTICE);
    const message = el("div", { id: "signin-message" });
    if (reason === "expired") message.append(notice("warning", t("signin.expired")));
    if (reason === "signedout") message.append(notice("info", t("signin.signedout")));
    const login = el("input", { id: "login", name: "login", autocomplete: "username", required: true, maxlength: 64 });
    const password = el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true, maxlength: 256 });
    const submit = el("button", { type: "submit", id: "signin-submit", text: t("signin.submit") });
    const form = el("form", { id: "signin", class: "card narrow" },
      el("h1", { text: t("signin.title") }),
      message,
      el("label", {}, t("signin.login"), login),
      el("label", {}, t("signin.password"), password),
      submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      message.replaceChildren();
      try {
        const response = await fetch("/v1/tokens", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ staffPassword: { login: login.value.trim(), password: password.value } }),
        });
        const data = await response.json().catch(() => ({}));
        if (response.status === 401) throw new Error(t("signin.wrong"));
        if (response.status === 429 || response.status === 412) throw new Error(`${t("signin.locked")} ${data.message || ""}`);
        if (!response.ok) throw new Error(`${t("error.refused")} ${data.message || response.status}`);
        if (data.principalKind !== "PRINCIPAL_KIND_STAFF") throw new Error(t("signin.staffonly"));
        const claims = claimsOf(data.accessToken);
        const lifetime = parseFloat(String(data.expiresIn || "0s")) * 1000;
        sessionStorage.setItem(SESSION, JSON.stringify({
          token: data.accessToken,
          expiresAt: Date.now() + lifetime,
          subject: data.subject,
          login: login.value.trim(),
          role: claims.role || "",
          stores: claims.stores || [],
          region: claims.region || "",
        }));
        location.assign("/console/day");
      } catch (error) {
        message.replaceChildren(notice("error", error.message));
        password.value = "";
        submit.disabled = false;
      }
    });
    main().replaceChildren(form);
    login.focus();
  }

  function header(current) {
    document.getElementById("nav").hidden = false;
    const out = document.getElementById("signout");
    out.hidden = false;
    out.addEventListener("click", () => signOut("signedout"));
    const ends = new Intl.DateTimeFormat(locale, { timeStyle: "short" }).format(new Date(current.expiresAt));
    document.getElementById("who").textContent = t("who", current.login, t(`role.${current.role}`), ends);
    // The token cannot be refreshed without the password: at its expiry the console says so.
    setTimeout(() => signOut("expired"), Math.max(0, current.expiresAt - Date.now()));
  }

  // ---- store day ------------------------------------------------------------------------

  let chart = null;

  function sumMoney(values, currency) {
    return { currencyCode: currency, amountMinor: values.reduce((sum, v) => sum + Number((v && v.amountMinor) || 0), 0) };
  }

  function rollUp(reports) {
    // Figures of several stores of one currency, added up as the service adds one store's.
    const currency = reports[0].revenue.currencyCode;
    const same = reports.filter((r) => r.revenue.currencyCode === currency);
    const sum = (name) => same.reduce((total, r) => total + Number(r[name] || 0), 0);
    const revenue = sumMoney(same.map((r) => r.revenue), currency);
    const net = sumMoney(same.map((r) => r.netRevenue), currency);
    const transactions = sum("transactions");
    const counted = same.filter((r) => r.footfallKnown);
    const footfall = counted.reduce((total, r) => total + Number(r.footfall || 0), 0);
    const countedTransactions = counted.reduce((total, r) => total + Number(r.transactions || 0), 0);
    const memberRevenue = same.reduce((total, r) => total + Number(r.memberRevenueShare || 0) * Number(r.revenue.amountMinor || 0), 0);
    const sellers = new Map();
    for (const r of same) for (const b of r.bestSellers || []) {
      const found = sellers.get(b.sku) || { sku: b.sku, name: b.name, units: 0, revenue: { currencyCode: currency, amountMinor: 0 } };
      found.units += Number(b.units || 0);
      found.revenue.amountMinor += Number(b.revenue.amountMinor || 0);
      sellers.set(b.sku, found);
    }
    const customers = new Map();
    for (const r of same) for (const c of r.coreCustomers || []) {
      const found = customers.get(c.memberId) || { memberId: c.memberId, visits: 0, spend: { currencyCode: currency, amountMinor: 0 } };
      found.visits += Number(c.visits || 0);
      found.spend.amountMinor += Number(c.spend.amountMinor || 0);
      customers.set(c.memberId, found);
    }
    const hours = new Map();
    for (const r of same) for (const h of r.footfallByHour || []) hours.set(h.startTime, (hours.get(h.startTime) || 0) + Number(h.visitors || 0));
    return {
      revenue, netRevenue: net,
      refunds: sumMoney(same.map((r) => r.refunds), currency),
      transactions, refundTransactions: sum("refundTransactions"), units: sum("units"),
      averageBasket: { currencyCode: currency, amountMinor: transactions ? Math.floor(revenue.amountMinor / transactions) : 0 },
      itemsPerBasket: transactions ? sum("units") / transactions : 0,
      memberRevenueShare: revenue.amountMinor ? memberRevenue / revenue.amountMinor : 0,
      newMembers: sum("newMembers"), returningMembers: sum("returningMembers"),
      footfallKnown: counted.length > 0, footfall, conversionRate: footfall ? countedTransactions / footfall : 0,
      bestSellers: [...sellers.values()].sort((a, b) => b.revenue.amountMinor - a.revenue.amountMinor).slice(0, 10),
      coreCustomers: [...customers.values()].sort((a, b) => b.spend.amountMinor - a.spend.amountMinor).slice(0, 10),
      footfallByHour: [...hours.entries()].map(([startTime, visitors]) => ({ startTime, visitors })),
      closed: same.every((r) => r.closed),
      skipped: reports.length - same.length,
    };
  }

  async function salesByHour(stores, day) {
    // The day's receipts of each store, by local hour (refunds count negative).
    const hours = new Array(24).fill(0);
    await Promise.all(stores.map(async (store) => {
      const window = dayWindow(day, store.timeZone);
      const receipts = await allPages("/v1/receipts", { storeId: store.storeId, startTime: window.start, endTime: window.end }, "receipts");
      for (const receipt of receipts) hours[localHour(receipt.occurredTime, store.timeZone)] += Number(receipt.total.amountMinor || 0);
    }));
    return hours;
  }

  async function commissions(store, day) {
    const window = dayWindow(day, store.timeZone);
    const staff = await allPages("/v1/staff", { storeId: store.storeId }, "staff");
    const statements = await Promise.all(staff.map(async (member) => {
      const statement = await get(`/v1/associates/${member.staffId}/commissionStatement${query({ startTime: window.start, endTime: window.end })}`);
      return { member, statement };
    }));
    return statements.filter(({ statement }) => (statement.lines || []).length > 0);
  }

  function drawSales(canvas, hours, footfall, currency, timeZone) {
    const scale = 10 ** minorDigits(currency);
    const visitors = new Array(24).fill(null);
    for (const h of footfall) visitors[localHour(h.startTime, timeZone)] = Number(h.visitors || 0);
    if (chart) chart.destroy();
    const datasets = [{ type: "bar", label: t("day.sales") + ` (${currency})`, data: hours.map((v) => v / scale), backgroundColor: "#2f6fbb", yAxisID: "y" }];
    if (footfall.length) datasets.push({ type: "line", label: t("day.visitors"), data: visitors, borderColor: "#d9822b", yAxisID: "y1" });
    chart = new window.Chart(canvas, {
      data: { labels: hours.map((_, h) => `${String(h).padStart(2, "0")}:00`), datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true }, y1: { beginAtZero: true, position: "right", display: footfall.length > 0, grid: { drawOnChartArea: false } } },
      },
    });
  }

  async function dayPage(current) {
    const stores = await myStores(current);
    const search = params();
    const scopes = ["store"];
    if (current.role === "regional_manager" || CHAIN_WIDE.has(current.role)) scopes.push("region");
    if (CHAIN_WIDE.has(current.role)) scopes.push("chain");
    const chosenStore = search.get("store") || (stores[0] && stores[0].storeId) || "";
    const storeSelect = storePicker(stores, chosenStore);
    const regions = [...new Set(stores.map((s) => s.region))].sort();
    const regionSelect = el("select", { id: "region", "aria-label": t("region") },
      regions.map((r) => el("option", { value: r, selected: r === (search.get("region") || current.region), text: r })));
    const scopeSelect = el("select", { id: "scope", "aria-label": t("day.scope") },
      scopes.map((s) => el("option", { value: s, selected: s === (search.get("scope") || "store"), text: t(`scope.${s}`) })));
    const zoneOf = () => {
      const store = stores.find((s) => s.storeId === storeSelect.value) || stores[0];
      return (store && store.timeZone) || "UTC";
    };
    const dateInput = el("input", { id: "date", type: "date", value: search.get("date") || today(zoneOf()), max: today(zoneOf()) });
    const body = el("div", { id: "day-body" });
    const controls = el("form", { class: "controls" },
      el("label", {}, t("day.scope"), scopeSelect),
      el("label", { id: "store-field" }, t("store"), storeSelect),
      el("label", { id: "region-field" }, t("region"), regionSelect),
      el("label", {}, t("day.date"), dateInput),
      el("button", { type: "submit", text: t("show") }));
    const sync = () => {
      document.getElementById("store-field").hidden = scopeSelect.value !== "store";
      document.getElementById("region-field").hidden = scopeSelect.value !== "region";
    };
    controls.addEventListener("submit", (event) => { event.preventDefault(); load(); });
    scopeSelect.addEventListener("change", () => { sync(); load(); });
    for (const input of [storeSelect, regionSelect, dateInput]) input.addEventListener("change", () => load());
    main().replaceChildren(el("h1", { text: t("page.day") }), controls, body);
    sync();
    if (!stores.length && !chosenStore) {
      body.replaceChildren(notice("info", t("day.nostores")));
      return;
    }

    // Only the latest request's answer is drawn: a slower earlier one never overwrites it.
    let latest = 0;

    async function load() {
      const mine = ++latest;
      const scope = scopeSelect.value;
      const day = dateInput.value;
      remember({ scope, store: scope === "store" ? storeSelect.value : "", region: scope === "region" ? regionSelect.value : "", date: day });
      body.replaceChildren(el("p", { class: "muted", text: t("loading") }));
      let chosen;
      if (scope === "store") chosen = [stores.find((s) => s.storeId === storeSelect.value) || { storeId: storeSelect.value, timeZone: zoneOf(), code: storeSelect.value, name: "" }];
      else if (scope === "region") chosen = stores.filter((s) => s.region === regionSelect.value);
      else chosen = stores;
      if (!chosen.length) {
        body.replaceChildren(notice("info", t("day.nostores")));
        return;
      }
      try {
        const reports = await Promise.all(chosen.map((s) => get(`/v1/stores/${s.storeId}/days/${day}/report`).then((r) => r.report)));
        const single = scope === "store";
        const report = single ? reports[0] : rollUp(reports);
        const hours = await salesByHour(chosen, day);
        if (mine !== latest) return;
        body.replaceChildren(...renderDay(report, chosen, single, day, hours));
        drawSales(document.getElementById("sales-chart"), hours, report.footfallByHour || [], report.revenue.currencyCode, chosen[0].timeZone);
        if (single && MANAGERS.has(current.role)) {
          const slot = document.getElementById("commissions");
          commissions(chosen[0], day).then((rows) => slot.replaceChildren(table(
            [t("day.associate"), t("day.sales"), t("day.refunds"), t("day.commission")],
            rows.map(({ member, statement }) => [member.displayName || member.login, money(statement.sales), money(statement.refunds), money(statement.commission)]),
            t("day.nocommissions"))), (error) => slot.replaceChildren(problem(error) || ""));
        }
      } catch (error) {
        if (mine === latest) body.replaceChildren(problem(error) || "");
      }
    }

    function renderDay(report, chosen, single, day, hours) {
      const store = chosen[0];
      const status = report.closed
        ? notice("info", single ? t("day.closed", when(report.closeTime, store.timeZone)) : t("day.allclosed"))
        : notice("info", t("day.open"));
      const parts = [el("div", { id: "day-status" }, status)];
      if (!single) parts.push(el("p", { class: "muted", id: "rollup-of", text: t("day.rollup", chosen.length) }));
      if (report.skipped) parts.push(notice("warning", t("day.currencies", report.skipped)));
      if (single && !report.closed && MANAGERS.has(current.role)) {
        const close = el("button", { id: "close-day", type: "button", text: t("day.close") });
        close.addEventListener("click", async () => {
          if (!confirm(t("day.closeconfirm", day))) return;
          close.disabled = true;
          try {
            await api("POST", `/v1/stores/${store.storeId}/days/${day}:close`);
            document.querySelector("form.controls").requestSubmit();
          } catch (error) {
            close.replaceWith(problem(error) || "");
          }
        });
        parts.push(close);
      }
      parts.push(el("div", { class: "kpis" },
        kpi(t("day.revenue"), money(report.revenue), "revenue"),
        kpi(t("day.net"), money(report.netRevenue), "net"),
        kpi(t("day.receipts"), count(report.transactions), "receipts"),
        kpi(t("day.units"), count(report.units), "units"),
        kpi(t("day.basket"), money(report.averageBasket), "basket"),
        kpi(t("day.itemsperbasket"), decimal(report.itemsPerBasket), "items"),
        kpi(t("day.refunds"), `${money(report.refunds)} (${count(report.refundTransactions)})`, "refunds"),
        kpi(t("day.membershare"), percent(report.memberRevenueShare), "membershare"),
        kpi(t("day.members"), `${count(report.newMembers)} / ${count(report.returningMembers)}`, "members"),
        kpi(t("day.conversion"), report.footfallKnown ? `${percent(report.conversionRate)} (${count(report.footfall)})` : t("day.nofootfall"), "conversion")));
      parts.push(card(t("day.byhour"), el("div", { class: "chart" }, el("canvas", { id: "sales-chart", "aria-label": t("day.byhour"), role: "img" })),
        el("p", { class: "muted", text: t("day.hourstotal", count(hours.filter((v) => v !== 0).length)) })));
      parts.push(el("div", { class: "columns" },
        card(t("day.bestsellers"), table([t("sku"), t("name"), t("day.units"), t("day.revenue")],
          (report.bestSellers || []).map((b) => [b.sku, b.name, count(b.units), money(b.revenue)]))),
        card(t("day.corecustomers"), table([t("member"), t("day.visits"), t("day.spend")],
          (report.coreCustomers || []).map((c) => [c.memberId, count(c.visits), money(c.spend)])))));
      if (single && MANAGERS.has(current.role)) parts.push(card(t("day.commissions"), el("div", { id: "commissions" }, el("p", { class: "muted", text: t("loading") }))));
      return parts;
    }

    load();
  }

  // ---- members ----------------------------------------------------------------------------

  async function membersPage() {
    const phone = el("input", { id: "phone", type: "tel", name: "phone", placeholder: "+8613800138000", value: params().get("phone") || "", required: true, maxlength: 32 });
    const body = el("div", { id: "member-body" });
    const form = el("form", { class: "controls" }, el("label", {}, t("members.phone"), phone), el("button", { type: "submit", text: t("members.find") }));
    form.addEventListener("submit", (event) => { event.preventDefault(); find(); });
    main().replaceChildren(el("h1", { text: t("page.members") }), form, body);

    async function find() {
      remember({ phone: phone.value.trim() });
      body.replaceChildren(el("p", { class: "muted", text: t("loading") }));
      try {
        const found = await get(`/v1/members${query({ phone: phone.value.trim() })}`);
        const member = (found.members || [])[0];
        if (!member) {
          body.replaceChildren(notice("info", t("members.notfound")));
          return;
        }
        body.replaceChildren(...await memberPanels(member));
      } catch (error) {
        body.replaceChildren(problem(error) || "");
      }
    }
    if (phone.value) find();
  }

  async function settle(promise) {
    try {
      return { value: await promise };
    } catch (error) {
      if (error instanceof SignedOut) throw error;
      return { error };
    }
  }

  function panel(id, title, result, render) {
    const content = result.error ? problem(result.error) : render(result.value);
    return el("section", { class: "card", id }, el("h2", { text: title }), content);
  }

  async function memberPanels(member) {
    const id = member.memberId;
    const [consents, advisor, receipts] = await Promise.all([
      settle(get(`/v1/members/${id}/consents`)),
      // No binding yet is a NOT_FOUND: shown as "no advisor", not as an error.
      settle(get(`/v1/members/${id}/advisor`).catch((error) => {
        if (error instanceof ApiError && error.status === 404) return {};
        throw error;
      })),
      settle(get(`/v1/members/${id}/receipts${query({ pageSize: 10 })}`)),
    ]);
    const granted = new Set(((consents.value || {}).consents || []).filter((c) => c.granted).map((c) => c.purpose));
    const panels = [
      el("section", { class: "card", id: "member-profile" },
        el("h2", { text: member.displayName || member.phone }),
        el("dl", {},
          el("dt", { text: t("members.phone") }), el("dd", { text: member.phone }),
          el("dt", { text: t("member") }), el("dd", { text: id }),
          el("dt", { text: t("members.homestore") }), el("dd", { text: member.homeStoreId || "–" }),
          el("dt", { text: t("members.tags") }), el("dd", { text: (member.tags || []).join(", ") || "–" }),
          el("dt", { text: t("members.since") }), el("dd", { text: when(member.createTime) }))),
      panel("member-consents", t("members.consents"), consents, (value) => el("ul", { class: "consents" },
        (value.consents || []).map((c) => el("li", { class: c.granted ? "granted" : "refused", "data-purpose": c.purpose },
          `${t(`consent.${c.purpose}`)}: ${c.granted ? t("yes") : t("no")}`)))),
      panel("member-advisor", t("members.advisor"), advisor, (value) => el("p", {
        text: value.binding && value.binding.staffId ? t("members.advisedby", value.binding.staffId, value.binding.storeId) : t("members.noadvisor"),
      })),
      panel("member-receipts", t("members.receipts"), receipts, (value) => table([t("when"), t("store"), t("day.units"), t("total")],
        (value.receipts || []).map((r) => [when(r.occurredTime), r.storeId, count(r.units), money(r.total)]))),
    ];
    if (available("loyalty")) {
      const [account, ledger, offers] = await Promise.all([
        settle(get(`/v1/members/${id}/loyaltyAccount`)),
        settle(get(`/v1/members/${id}/ledgerEntries${query({ pageSize: 20 })}`)),
        settle(get(`/v1/members/${id}/offers${query({ pageSize: 20 })}`)),
      ]);
      panels.push(panel("member-points", t("members.points"), account, ({ account: a }) => el("div", { class: "kpis" },
        kpi(t("members.available"), count(a.availablePoints), "available"),
        kpi(t("members.pending"), count(a.pendingPoints), "pending"),
        kpi(t("members.balance"), count(a.balancePoints), "balance"),
        kpi(t("members.tier"), a.tierName || "–", "tier"))));
      panels.push(panel("member-ledger", t("members.ledger"), ledger, (value) => table([t("when"), t("kind"), t("members.points")],
        (value.entries || []).map((e) => [when(e.createTime), e.kind, count(e.points)]))));
      panels.push(panel("member-offers", t("members.offers"), offers, (value) => table([t("when"), t("campaigns.campaign"), t("state")],
        (value.offers || []).map((o) => [when(o.issueTime), o.campaignId, o.state]))));
    } else {
      panels.push(el("section", { class: "card", id: "member-points" }, el("h2", { text: t("members.points") }), unavailable("loyalty")));
    }
    const recs = el("section", { class: "card", id: "member-recs" }, el("h2", { text: t("members.recs") }));
    if (!available("recs")) {
      recs.append(unavailable("recs"));
    } else if (!granted.has("CONSENT_PURPOSE_PROFILING")) {
      // No profile and no personal recommendations without the member's profiling consent.
      recs.append(notice("info", t("members.noprofiling")));
    } else {
      const [profile, recommendations] = await Promise.all([
        settle(get(`/v1/members/${id}/profile`)),
        settle(get(`/v1/members/${id}/recommendations${query({ limit: 10 })}`)),
      ]);
      recs.append(
        profile.error ? problem(profile.error) : el("p", { id: "member-tags", text: `${t("members.inferred")}: ${((profile.value.profile || {}).tags || []).map((tag) => tag.tag).join(", ") || "–"}` }),
        recommendations.error ? problem(recommendations.error) : table([t("sku"), t("name"), t("members.reason")],
          (recommendations.value.recommendations || []).map((r) => [r.item.sku, r.item.name, t(`reason.${r.reason}`) + (r.becauseSku ? ` (${r.becauseSku})` : "")])));
    }
    panels.push(recs);
    return panels;
  }

  // ---- floor -----------------------------------------------------------------------------

  function drawHeatmap(canvas, heatmap) {
    const columns = heatmap.columns || 0;
    const rows = heatmap.rows || 0;
    const counts = (heatmap.counts || []).map(Number);
    const top = Math.max(1, ...counts);
    const size = Math.max(4, Math.floor(Math.min(640 / Math.max(1, columns), 480 / Math.max(1, rows))));
    canvas.width = columns * size;
    canvas.height = rows * size;
    const context = canvas.getContext("2d");
    counts.forEach((value, index) => {
      const x = index % columns;
      const y = Math.floor(index / columns);
      const heat = value / top;
      context.fillStyle = value ? `hsl(${Math.round(220 - 220 * heat)}, 85%, ${Math.round(85 - 40 * heat)}%)` : "#f3f4f6";
      context.fillRect(x * size, y * size, size, size);
    });
  }

  async function floorPage(current) {
    if (!available("positioning")) {
      main().replaceChildren(el("h1", { text: t("page.floor") }), unavailable("positioning"));
      return;
    }
    const stores = await myStores(current);
    const search = params();
    const storeSelect = storePicker(stores, search.get("store") || (stores[0] && stores[0].storeId) || "");
    const zone = () => ((stores.find((s) => s.storeId === storeSelect.value) || {}).timeZone || "UTC");
    const floor = el("input", { id: "floor", type: "number", value: search.get("floor") || "0", min: -10, max: 200 });
    const from = el("input", { id: "from", type: "date", value: search.get("from") || today(zone()) });
    const to = el("input", { id: "to", type: "date", value: search.get("to") || today(zone()) });
    const body = el("div", { id: "floor-body" });
    const form = el("form", { class: "controls" },
      el("label", {}, t("store"), storeSelect), el("label", {}, t("floor.floor"), floor),
      el("label", {}, t("floor.from"), from), el("label", {}, t("floor.to"), to),
      el("button", { type: "submit", text: t("show") }));
    form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
    main().replaceChildren(el("h1", { text: t("page.floor") }), form, body);

    async function load() {
      remember({ store: storeSelect.value, floor: floor.value, from: from.value, to: to.value });
      const store = storeSelect.value;
      const period = { startTime: dayWindow(from.value, zone()).start, endTime: dayWindow(to.value, zone()).end };
      body.replaceChildren(el("p", { class: "muted", text: t("loading") }));
      const [heatmap, stats, routes, footfall, zones] = await Promise.all([
        settle(get(`/v1/stores/${store}/floors/${floor.value}/heatmap${query({ ...period, renderPng: "false" })}`)),
        settle(get(`/v1/stores/${store}/zoneStats${query(period)}`)),
        settle(get(`/v1/stores/${store}/transitions${query({ ...period, limit: 20 })}`)),
        settle(get(`/v1/stores/${store}/footfall${query(period)}`)),
        settle(get(`/v1/stores/${store}/zones${query({ pageSize: 500 })}`)),
      ]);
      const names = new Map(((zones.value || {}).zones || []).map((z) => [z.zoneId, z.name || z.zoneId]));
      const name = (zoneId) => names.get(zoneId) || zoneId;
      const canvas = el("canvas", { id: "heatmap", role: "img", "aria-label": t("floor.heatmap") });
      body.replaceChildren(
        panel("floor-heatmap", t("floor.heatmap"), heatmap, () => el("div", { class: "scroll" }, canvas)),
        el("div", { class: "columns" },
          panel("floor-dwell", t("floor.dwell"), stats, (value) => table([t("floor.zone"), t("floor.visits"), "p50", "p90"],
            (value.zones || []).map((z) => [name(z.zoneId), count(z.visits), seconds(z.p50DwellSeconds), seconds(z.p90DwellSeconds)]))),
          panel("floor-routes", t("floor.routes"), routes, (value) => table([t("floor.fromzone"), t("floor.tozone"), t("floor.count")],
            (value.transitions || []).map((r) => [name(r.fromZoneId), name(r.toZoneId), count(r.count)])))),
        panel("floor-footfall", t("floor.footfall"), footfall, (value) => el("div", {},
          el("p", { text: `${t("floor.total")}: ${count(value.totalVisitors)}` }),
          el("div", { class: "chart" }, el("canvas", { id: "footfall-chart" })))));
      if (!heatmap.error) drawHeatmap(canvas, heatmap.value);
      if (!footfall.error) {
        const hours = footfall.value.hours || [];
        if (chart) chart.destroy();
        chart = new window.Chart(document.getElementById("footfall-chart"), {
          type: "bar",
          data: { labels: hours.map((h) => hourLabel(h.hourStartTime, zone())), datasets: [{ label: t("day.visitors"), data: hours.map((h) => Number(h.visitors || 0)), backgroundColor: "#d9822b" }] },
          options: { animation: false, responsive: true, maintainAspectRatio: false },
        });
      }
    }
    if (storeSelect.value) load();
  }

  // ---- campaigns ---------------------------------------------------------------------------

  async function campaignsPage(current) {
    if (!available("loyalty")) {
      main().replaceChildren(el("h1", { text: t("page.campaigns") }), unavailable("loyalty"));
      return;
    }
    const stores = await myStores(current);
    const list = el("div", { id: "campaign-list" });
    const field = (label, input) => el("label", {}, label, input);
    const input = (id, attributes = {}) => el("input", { id, name: id, ...attributes });
    const zone = (stores[0] && stores[0].timeZone) || "UTC";
    const trigger = el("select", { id: "trigger", name: "trigger" },
      ["TRIGGER_KIND_PURCHASE", "TRIGGER_KIND_ZONE_DWELL", "TRIGGER_KIND_BIRTHDAY"].map((k) => el("option", { value: k, text: t(`trigger.${k}`) })));
    const rewardKind = el("select", { id: "reward-kind" },
      ["bonusPoints", "multiplierMilli", "couponRewardId"].map((k) => el("option", { value: k, text: t(`reward.${k}`) })));
    const storeChoice = el("select", { id: "campaign-stores", multiple: true, size: Math.min(5, Math.max(2, stores.length)) },
      stores.map((s) => el("option", { value: s.storeId, text: storeLabel(s) })));
    const message = el("div", { id: "campaign-message" });
    const form = el("form", { id: "campaign-form", class: "card grid-form" },
      el("h2", { text: t("campaigns.new") }),
      field(t("name"), input("campaign-name", { required: true, maxlength: 200 })),
      field(t("campaigns.stores"), storeChoice),
      field(t("campaigns.zones"), input("campaign-zones", { placeholder: "zone-a, zone-b" })),
      field(t("campaigns.start"), input("campaign-start", { type: "date", required: true, value: today(zone) })),
      field(t("campaigns.end"), input("campaign-end", { type: "date", required: true, value: nextDay(today(zone)) })),
      field(t("campaigns.trigger"), trigger),
      field(t("campaigns.dwell"), input("campaign-dwell", { type: "number", min: 0, value: 0 })),
      field(t("campaigns.reward"), rewardKind),
      field(t("campaigns.rewardvalue"), input("campaign-reward", { required: true })),
      field(t("campaigns.minage"), input("campaign-minage", { type: "number", min: 0, max: 150 })),
      field(t("campaigns.maxage"), input("campaign-maxage", { type: "number", min: 0, max: 150 })),
      field(t("campaigns.tags"), input("campaign-tags", { placeholder: "new_parent" })),
      field(t("campaigns.perday"), input("campaign-perday", { type: "number", min: 0, value: 1 })),
      field(t("campaigns.perweek"), input("campaign-perweek", { type: "number", min: 0, value: 3 })),
      field(t("campaigns.budget"), input("campaign-budget", { type: "number", min: 0 })),
      field(t("campaigns.quietfrom"), input("campaign-quietfrom", { type: "number", min: 0, max: 23 })),
      field(t("campaigns.quietto"), input("campaign-quietto", { type: "number", min: 0, max: 23 })),
      field(t("campaigns.message"), input("campaign-text", { maxlength: 500 })),
      message,
      el("button", { type: "submit", id: "campaign-create", text: t("campaigns.create") }));
    const list_ = (value) => String(value || "").split(",").map((s) => s.trim()).filter(Boolean);
    const number = (id) => document.getElementById(id).value === "" ? undefined : Number(document.getElementById(id).value);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      message.replaceChildren();
      const value = (id) => document.getElementById(id).value;
      const reward = rewardKind.value === "couponRewardId" ? { couponRewardId: value("campaign-reward") } : { [rewardKind.value]: Number(value("campaign-reward")) };
      const campaign = {
        name: value("campaign-name"),
        segment: { minAge: number("campaign-minage"), maxAge: number("campaign-maxage"), tags: list_(value("campaign-tags")) },
        place: { storeIds: [...storeChoice.selectedOptions].map((o) => o.value), zoneIds: list_(value("campaign-zones")) },
        startTime: localMidnight(value("campaign-start"), zone).toISOString(),
        endTime: localMidnight(value("campaign-end"), zone).toISOString(),
        trigger: { kind: trigger.value, minDwellSeconds: number("campaign-dwell") },
        reward,
        caps: { perMemberPerDay: number("campaign-perday"), perMemberPerWeek: number("campaign-perweek"), totalBudget: value("campaign-budget") || undefined },
        message: value("campaign-text"),
      };
      if (value("campaign-quietfrom") !== "" && value("campaign-quietto") !== "") {
        campaign.quietHours = { startHour: number("campaign-quietfrom"), endHour: number("campaign-quietto") };
      }
      try {
        await api("POST", `/v1/campaigns${query({ requestId: crypto.randomUUID() })}`, campaign);
        message.replaceChildren(notice("info", t("campaigns.created")));
        form.reset();
        refresh();
      } catch (error) {
        message.replaceChildren(problem(error) || "");
      }
    });
    main().replaceChildren(el("h1", { text: t("page.campaigns") }), list, form);

    async function refresh() {
      try {
        const campaigns = await allPages("/v1/campaigns", {}, "campaigns");
        list.replaceChildren(card(t("page.campaigns"), table(
          [t("name"), t("state"), t("campaigns.trigger"), t("campaigns.window"), t("campaigns.issued"), t("campaigns.redeemed"), ""],
          campaigns.map((c) => [
            c.name, t(`state.${c.state}`), t(`trigger.${(c.trigger || {}).kind}`),
            `${when(c.startTime, zone)} – ${when(c.endTime, zone)}`, count(c.issuedCount),
            count(c.redeemedCount),
            c.state === "CAMPAIGN_STATE_ACTIVE" ? el("button", {
              type: "button", class: "pause", "data-campaign": c.campaignId, text: t("campaigns.pause"),
              onclick: async (event) => {
                event.target.disabled = true;
                try {
                  await api("POST", `/v1/campaigns/${c.campaignId}:pause`);
                  refresh();
                } catch (error) {
                  event.target.replaceWith(problem(error) || "");
                }
              },
            }) : "",
          ]), t("campaigns.none"))));
      } catch (error) {
        list.replaceChildren(problem(error) || "");
      }
    }
    refresh();
  }

  // ---- start ---------------------------------------------------------------------------------

  async function start() {
    if (config.page === "signin") {
      if (session()) {
        location.assign("/console/day");
        return;
      }
      signInPage();
      return;
    }
    const current = session();
    if (!current) {
      location.assign("/console/signin");
      return;
    }
    header(current);
    const pages = { day: dayPage, members: membersPage, floor: floorPage, campaigns: campaignsPage };
    try {
      await pages[config.page](current);
    } catch (error) {
      const shown = problem(error);
      if (shown) main().replaceChildren(shown);
    }
  }

  window.addEventListener("DOMContentLoaded", start);
})();
