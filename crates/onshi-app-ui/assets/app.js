// The reception desk page: polls the desk's state, swaps the 受付 screen when the phase
// changes, and sends what staff and patients press. No framework: the server renders the HTML.
"use strict";

let shownSeq = 0;
let pin = "";
let busy = false;

async function api(path, body) {
  // The desk's cookie (HttpOnly, SameSite=Strict) goes with every same-origin fetch; the header
  // is one a cross-site page cannot send without a preflight the desk never answers.
  const init = { headers: { "X-Onshi-Desk": "1" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new Error((data && data.message) || "画面と受付アプリの通信に失敗しました。");
  }
  return data;
}

function screen() {
  return document.getElementById("screen");
}

function showError(message) {
  const banner = document.getElementById("banner");
  banner.textContent = message;
  banner.hidden = false;
  banner.dataset.kind = "error";
}

async function poll() {
  try {
    const s = await api("/api/status");
    const reader = document.getElementById("reader");
    reader.textContent = s.reader.text;
    reader.dataset.state = s.reader.state;
    if (s.banner) {
      const banner = document.getElementById("banner");
      banner.textContent = s.banner;
      banner.hidden = false;
      banner.dataset.kind = "info";
    }
    if (s.seq !== shownSeq) {
      shownSeq = s.seq;
      pin = "";
      screen().innerHTML = s.screen;
      screen().dataset.phase = s.phase;
      if (s.phase === "done" || s.phase === "failed") {
        refreshHistory();
      }
    }
  } catch (e) {
    document.getElementById("reader").textContent =
      "受付アプリと通信できません。受付アプリ（onshi app ui）が動いているか確認してください。";
    document.getElementById("reader").dataset.state = "offline";
  }
  setTimeout(poll, 400);
}

function drawPin() {
  const dots = document.querySelectorAll("#pin-dots span");
  dots.forEach((d, i) => d.classList.toggle("filled", i < pin.length));
  const ok = document.querySelector('[data-action="pin-ok"]');
  if (ok) ok.disabled = pin.length !== 4;
}

function openTab(name) {
  for (const t of ["desk", "numbers", "history", "settings"]) {
    document.getElementById("tab-" + t).hidden = t !== name;
    const button = document.querySelector(`nav [data-tab="${t}"]`);
    if (t === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (name === "history") refreshHistory();
  if (name === "settings") refreshSettings();
}

async function refreshHistory() {
  try {
    document.getElementById("tab-history").innerHTML = await api("/api/history");
  } catch (e) {
    document.getElementById("tab-history").textContent = e.message;
  }
}

async function refreshSettings() {
  try {
    document.getElementById("tab-settings").innerHTML = await api("/api/settings");
  } catch (e) {
    document.getElementById("tab-settings").textContent = e.message;
  }
}

let pendingRecheck = null;

function showPhotoConfirm(recheck) {
  pendingRecheck = recheck;
  const template = document.getElementById("photo-template");
  screen().replaceChildren(template.content.cloneNode(true));
  screen().dataset.phase = "photo";
}

async function send(path, body) {
  if (busy) return;
  busy = true;
  try {
    await api(path, body);
    document.getElementById("banner").hidden = true;
  } catch (e) {
    showError(e.message);
  } finally {
    busy = false;
  }
}

async function copyResult(index) {
  const area = document.getElementById("clipboard-text-" + index);
  if (!area) return;
  const text = area.value;
  const said = document.getElementById("copied");
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    // Older browsers: copy from a selected text area.
    area.hidden = false;
    area.select();
    document.execCommand("copy");
    area.hidden = true;
  }
  said.textContent = "資格情報をクリップボードにコピーしました。レセコンに貼り付けてください。";
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target) return;
  if (target.dataset.tab) {
    openTab(target.dataset.tab);
    return;
  }
  switch (target.dataset.action) {
    case "start":
      send("/api/check", { mode: target.dataset.mode });
      break;
    case "photo":
      showPhotoConfirm(null);
      break;
    case "register-consent": {
      const template = document.getElementById("register-template");
      screen().replaceChildren(template.content.cloneNode(true));
      screen().dataset.phase = "consent";
      break;
    }
    case "register":
      send("/api/register", { consent: true });
      break;
    case "photo-yes":
      if (pendingRecheck) {
        send("/api/recheck", { mode: "visual", photo_confirmed: true, entry: pendingRecheck });
      } else {
        send("/api/check", { mode: "visual", photo_confirmed: true });
      }
      pendingRecheck = null;
      break;
    case "recheck": {
      const entry = Number(target.dataset.entry);
      openTab("desk");
      // Without the card: the patient was identified when the visit was recorded.
      if (target.dataset.held === "1") send("/api/recheck", { entry: entry, held: true });
      else if (target.dataset.mode === "visual") showPhotoConfirm(entry);
      else send("/api/recheck", { mode: "pin", entry: entry });
      break;
    }
    case "digit":
      if (pin.length < 4) pin += target.dataset.digit;
      drawPin();
      break;
    case "pin-clear":
      pin = "";
      drawPin();
      break;
    case "pin-ok": {
      const typed = pin;
      pin = "";
      drawPin();
      send("/api/pin", { pin: typed });
      break;
    }
    case "cancel":
    case "reset":
      pendingRecheck = null;
      send("/api/cancel", {});
      // Back to the choices at once when nothing runs (the phase may not change).
      if (screen().dataset.phase === "photo" || screen().dataset.phase === "consent") {
        shownSeq = 0;
      }
      break;
    case "copy":
      copyResult(target.dataset.index);
      break;
  }
});

// The PIN pad also takes the keyboard's digits.
document.addEventListener("keydown", (event) => {
  if (screen().dataset.phase !== "pin") return;
  if (/^[0-9]$/.test(event.key) && pin.length < 4) {
    pin += event.key;
  } else if (event.key === "Backspace") {
    pin = pin.slice(0, -1);
  } else if (event.key === "Enter" && pin.length === 4) {
    const typed = pin;
    pin = "";
    send("/api/pin", { pin: typed });
  } else {
    return;
  }
  event.preventDefault();
  drawPin();
});

// 番号で確認: the insurer number's 検証番号 and the birth date read back as they are typed.
let typedTimer = null;
document.addEventListener("input", (event) => {
  if (!event.target.closest("#numbers-form")) return;
  if (event.target.id !== "insurer" && event.target.id !== "birth") return;
  clearTimeout(typedTimer);
  typedTimer = setTimeout(async () => {
    const form = document.getElementById("numbers-form");
    try {
      const said = await api("/api/typed", { insurer: form.insurer.value, birth: form.birth.value });
      for (const [id, field] of [["insurer-check", said.insurer], ["birth-check", said.birth]]) {
        const line = document.getElementById(id);
        line.textContent = field.text;
        line.dataset.ok = field.ok ? "yes" : "no";
      }
    } catch (e) {
      // The desk is not reachable: the submit says so.
    }
  }, 150);
});

document.addEventListener("submit", async (event) => {
  if (event.target.id !== "numbers-form") return;
  event.preventDefault();
  const form = event.target;
  const said = document.getElementById("numbers-message");
  try {
    await api("/api/query", {
      insurer: form.insurer.value,
      symbol: form.symbol.value,
      number: form.number.value,
      branch: form.branch.value,
      birth: form.birth.value,
    });
    said.textContent = "";
    // The last answer must not show while this one is asked: the next poll draws the screen.
    screen().replaceChildren();
    shownSeq = 0;
    openTab("desk");
  } catch (e) {
    said.textContent = e.message;
    said.dataset.kind = "error";
  }
});

// 端末の登録 (a PC not enrolled yet): the settings file is read here and sent as text.
document.addEventListener("submit", async (event) => {
  if (event.target.id !== "enroll-form") return;
  event.preventDefault();
  const form = event.target;
  const said = document.getElementById("enroll-message");
  const button = form.querySelector("button[type=submit]");
  const file = form.settings.files && form.settings.files[0];
  const body = {
    code: form.code.value,
    server: form.server.value,
    account: form.account.value,
    server_ca: form.server_ca.value,
  };
  try {
    if (file) body.settings = await file.text();
    button.disabled = true;
    said.textContent = "登録しています…";
    said.dataset.kind = "info";
    await api("/api/enroll", body);
    said.textContent = "登録しました。受付画面を開きます…";
    location.reload();
  } catch (e) {
    said.textContent = e.message;
    said.dataset.kind = "error";
    button.disabled = false;
  }
});

document.addEventListener("submit", async (event) => {
  if (event.target.id !== "settings-form") return;
  event.preventDefault();
  const form = event.target;
  const said = document.getElementById("settings-message");
  try {
    const data = await api("/api/settings", {
      reader: form.reader.value,
      output: form.output.value,
      encoding: form.encoding.value,
    });
    said.textContent = data.message;
    said.dataset.kind = "info";
  } catch (e) {
    said.textContent = e.message;
    said.dataset.kind = "error";
  }
});

document.addEventListener("change", (event) => {
  if (event.target.id === "reader-choice") {
    document.getElementById("reader").value = event.target.value;
  }
});

// The enrollment page has no 受付 to poll.
if (document.body.dataset.page !== "enroll") poll();
