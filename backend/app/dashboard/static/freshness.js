// Freshness, visible: a banner when a portfolio's figures are older than the last
// completed trading day by more than one trading day (with the command that brings
// prices and figures up to date), and the positions the figures leave out.
import { REFRESH_COMMAND } from "./commands.js";
import { percent } from "./format.js";

const $ = (id) => document.getElementById(id);
const MARKET_ZONE = "America/New_York";
const CLOSE_MINUTES = 16 * 60; // the US close, 16:00 New York time

// The date (YYYY-MM-DD) and minutes past midnight of `now` in New York.
function marketClock(now) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone: MARKET_ZONE, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(now).map((p) => [p.type, p.value]),
  );
  return { day: `${parts.year}-${parts.month}-${parts.day}`, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

const asDate = (iso) => new Date(`${iso}T00:00:00Z`);
const isoOf = (d) => d.toISOString().slice(0, 10);
const weekday = (d) => d.getUTCDay() % 6 !== 0; // not Sunday (0) or Saturday (6)

function addDays(d, n) {
  const out = new Date(d);
  out.setUTCDate(out.getUTCDate() + n);
  return out;
}

// The last weekday whose close has passed in New York (market holidays are not known
// here: one of them makes the figures look a day older, which the banner's one day of
// slack absorbs).
export function lastCompletedTradingDay(now = new Date()) {
  const { day, minutes } = marketClock(now);
  let d = asDate(day);
  if (minutes < CLOSE_MINUTES) d = addDays(d, -1);
  while (!weekday(d)) d = addDays(d, -1);
  return isoOf(d);
}

// Weekdays after `from` up to and including `to` (both YYYY-MM-DD).
export function tradingDaysAfter(from, to) {
  let count = 0;
  for (let d = addDays(asDate(from), 1); d <= asDate(to); d = addDays(d, 1)) {
    if (weekday(d)) count += 1;
  }
  return count;
}

// The banner for the selected portfolio (hidden without figures: the hint to calculate
// them says it all).
export function showFreshness(portfolio, now = new Date()) {
  const box = $("freshness");
  const asOf = portfolio?.prices_as_of;
  const last = lastCompletedTradingDay(now);
  box.hidden = !asOf || tradingDaysAfter(asOf, last) <= 1;
  if (box.hidden) return;
  const code = document.createElement("code");
  code.textContent = REFRESH_COMMAND;
  box.replaceChildren(
    document.createTextNode(
      `Figures are as of ${asOf}, ${tradingDaysAfter(asOf, last)} trading days before the last completed trading day (${last}). Bring prices and figures up to date with`,
    ),
    document.createElement("br"),
    code,
  );
}

// Beside the headline: what the figures rest on, and each position they leave out.
export function renderLeftOut(risk) {
  const box = $("left-out");
  const left = risk.excluded_positions ?? [];
  box.hidden = left.length === 0;
  if (box.hidden) return;
  const list = document.createElement("ul");
  list.replaceChildren(
    ...left.map((e) => {
      const item = document.createElement("li");
      item.textContent = `${e.symbol}: ${e.detail}`;
      item.dataset.symbol = e.symbol;
      item.dataset.reason = e.reason;
      return item;
    }),
  );
  box.replaceChildren(
    document.createTextNode(
      `${left.length} position${left.length === 1 ? "" : "s"} left out of these figures for want of a fresh price; beta coverage ${percent(risk.beta_coverage)}, and concentration counts them as uncovered exposure:`,
    ),
    list,
  );
}
