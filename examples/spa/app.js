// A single-page app on its own origin that signs in against Gatehouse with
// @gatehouse/client. No framework: a few elements shown and hidden.
//
// The client keeps the access token in memory and the refresh token stays in
// Gatehouse's HttpOnly cookie, so a reload finds no token here and
// `session()` quietly restores it through the cookie.

import { createClient, GatehouseError } from "./gatehouse-client.js";
import { gatehouseUrl } from "./config.js";

const $ = (id) => document.getElementById(id);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const ui = {
  status: byTestId("status"),
  error: $("error"),
  signInForm: $("sign-in"),
  mfaForm: $("second-factor"),
  signedIn: $("signed-in"),
  who: byTestId("who"),
  me: byTestId("me"),
  calls: byTestId("calls"),
  burst: byTestId("burst"),
};

const client = createClient({
  baseUrl: gatehouseUrl,
  // Called once when a refresh is refused: the session ended elsewhere
  // (signed out in another tab, revoked by an admin, expired).
  onSignedOut: () => showSignIn("Your session ended; sign in again."),
});

/** The pending second step of a sign-in, while the code form is shown. */
let mfaToken = null;
let calls = 0;

function setStatus(text) {
  ui.status.textContent = text;
}

function setError(text) {
  ui.error.textContent = text;
}

/** Shows exactly one of the three panels. */
function show(panel) {
  for (const el of [ui.signInForm, ui.mfaForm, ui.signedIn]) el.hidden = el !== panel;
}

function showSignIn(message = "") {
  mfaToken = null;
  show(ui.signInForm);
  setStatus("Signed out.");
  setError(message);
  ui.me.textContent = "";
  $("password").value = "";
  $("username").focus();
}

function showSignedIn(user) {
  mfaToken = null;
  show(ui.signedIn);
  ui.who.textContent = `Signed in as ${user?.username ?? "(unknown user)"}`;
  setStatus("Signed in.");
  setError("");
}

/** What to tell the person when a call fails. */
function describe(error) {
  if (error instanceof GatehouseError) {
    return error.retryAfter
      ? `${error.message} (try again in ${error.retryAfter} s)`
      : error.message;
  }
  // fetch rejects without detail when the server is down or CORS refuses.
  return `Cannot reach Gatehouse at ${gatehouseUrl}. Is it running, with ` +
    `GATEHOUSE_ALLOWED_ORIGINS=${location.origin}?`;
}

/** Runs a button's work with the button disabled, reporting failures. */
async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (e) {
    setError(describe(e));
  } finally {
    button.disabled = false;
  }
}

/** Finishes `signIn` or `completeMfa`. */
async function afterSignIn(result) {
  if (result.status === "mfa-required") {
    mfaToken = result.mfaToken;
    show(ui.mfaForm);
    setStatus(`A second factor is required (${result.methods.join(", ")}).`);
    setError("");
    $("code").value = "";
    $("code").focus();
    return;
  }
  // The token answer has no user in it; the client reads /users/me after.
  const user = result.user ?? (await client.session()).user;
  showSignedIn(user);
}

function countCalls(n) {
  calls += n;
  ui.calls.textContent = String(calls);
}

ui.signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const button = ui.signInForm.querySelector("button[type=submit]");
  busy(button, async () => {
    setError("");
    setStatus("Signing in…");
    try {
      await afterSignIn(await client.signIn($("username").value.trim(), $("password").value));
    } finally {
      if (!ui.signInForm.hidden) setStatus("Signed out.");
    }
  });
});

ui.mfaForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const button = ui.mfaForm.querySelector("button[type=submit]");
  const code = $("code").value.trim();
  // Six digits come from the app; anything else is taken for a recovery code.
  const proof = /^\d{6}$/.test(code) ? { code } : { recoveryCode: code };
  busy(button, async () => afterSignIn(await client.completeMfa(mfaToken, proof)));
});

$("cancel-mfa").addEventListener("click", () => showSignIn());

$("call-me").addEventListener("click", (event) => {
  busy(event.currentTarget, async () => {
    countCalls(1);
    const res = await client.fetch("/api/v1/users/me");
    // A 401 here means the refresh failed too; onSignedOut has run.
    if (res.status === 401) return;
    ui.me.textContent = JSON.stringify(await res.json(), null, 2);
    setStatus(`GET /api/v1/users/me answered ${res.status}.`);
  });
});

$("call-burst").addEventListener("click", (event) => {
  busy(event.currentTarget, async () => {
    countCalls(5);
    // Five requests at once: if the access token has expired, all five get
    // a 401, the client runs one refresh for them, and all five retry.
    const answers = await Promise.allSettled(
      Array.from({ length: 5 }, () => client.fetch("/api/v1/users/me")),
    );
    const ok = answers.filter((a) => a.status === "fulfilled" && a.value.ok).length;
    ui.burst.textContent = `${ok} of 5 succeeded`;
    setStatus(`Five concurrent calls: ${ok} succeeded.`);
  });
});

$("sign-out").addEventListener("click", (event) => {
  busy(event.currentTarget, async () => {
    // signOut does not call onSignedOut: this page asked for it. The client
    // forgets its tokens even when the revoke fails, so show the form anyway.
    try {
      await client.signOut();
    } finally {
      showSignIn();
    }
  });
});

// On load: a reload left no token in memory, but the refresh cookie may
// still hold a session.
setStatus("Checking for a session…");
client.session().then(
  (session) => (session.authenticated ? showSignedIn(session.user) : showSignIn()),
  (error) => {
    showSignIn();
    setError(describe(error));
  },
);
