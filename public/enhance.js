// Progressive enhancements for Gatehouse: passkeys (the WebAuthn ceremonies,
// through the JSON API) and copying recovery codes. Passkey buttons name what
// they do with data-passkey="login | second-factor | reauth | register"; a
// [data-passkey-status] element near them shows what happens. The login
// page's username field (autocomplete="username webauthn") also offers
// passkeys in the browser's autofill.
document.documentElement.classList.add("js");

const b64uToBuf = (s) => {
  const base64 = s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
};
const bufToB64u = (buf) => {
  let text = "";
  for (const byte of new Uint8Array(buf)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

async function api(path, body) {
  const res = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  let data = {};
  try {
    data = await res.json();
  } catch {}
  if (!res.ok) throw new Error(data.error || `the server answered ${res.status}`);
  return data;
}

function creationOptions(pk) {
  pk.challenge = b64uToBuf(pk.challenge);
  pk.user.id = b64uToBuf(pk.user.id);
  for (const c of pk.excludeCredentials || []) c.id = b64uToBuf(c.id);
  return pk;
}

function requestOptions(pk) {
  pk.challenge = b64uToBuf(pk.challenge);
  for (const c of pk.allowCredentials || []) c.id = b64uToBuf(c.id);
  return pk;
}

function registrationJson(cred) {
  const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
  return {
    id: cred.id,
    rawId: bufToB64u(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: bufToB64u(cred.response.attestationObject),
      clientDataJSON: bufToB64u(cred.response.clientDataJSON),
      transports: cred.response.getTransports ? cred.response.getTransports() : undefined,
    },
    extensions: ext.credProps ? { credProps: ext.credProps } : {},
  };
}

function assertionJson(a) {
  return {
    id: a.id,
    rawId: bufToB64u(a.rawId),
    type: a.type,
    response: {
      authenticatorData: bufToB64u(a.response.authenticatorData),
      clientDataJSON: bufToB64u(a.response.clientDataJSON),
      signature: bufToB64u(a.response.signature),
      userHandle: a.response.userHandle ? bufToB64u(a.response.userHandle) : null,
    },
    extensions: {},
  };
}

function say(near, text) {
  const scope = near.closest("[data-passkey-scope]") || document;
  const status = scope.querySelector("[data-passkey-status]");
  if (status) status.textContent = text;
}

const remember = () => !!document.querySelector('input[name="remember"]')?.checked;
let conditional = null;

async function signIn(button, kind) {
  conditional?.abort();
  const start = await api("/api/v1/auth/passkey/start", {
    reauth: kind === "reauth",
    second_factor: kind === "second-factor",
  });
  const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
  const answer = await api("/api/v1/auth/passkey/finish", {
    ceremony: start.ceremony,
    credential: assertionJson(credential),
    remember: remember(),
    return_to: button.dataset.return,
  });
  // The server checked where the page may go (an app of the cookie domain too).
  location.assign(answer.redirect_to || "/dashboard");
}

async function register(button) {
  const scope = button.closest("[data-passkey-scope]") || document;
  const name = scope.querySelector('input[name="passkey_name"]')?.value || "";
  const start = await api("/api/v1/users/me/passkeys/register/start");
  const credential = await navigator.credentials.create({ publicKey: creationOptions(start.publicKey) });
  await api("/api/v1/users/me/passkeys/register/finish", {
    ceremony: start.ceremony,
    credential: registrationJson(credential),
    name,
  });
  location.assign(button.dataset.return || "/account?changed=passkey_added#security");
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-passkey]");
  if (!button) return;
  event.preventDefault();
  if (!window.PublicKeyCredential) {
    say(button, "This browser cannot use passkeys.");
    return;
  }
  button.disabled = true;
  say(button, "Waiting for your passkey…");
  try {
    if (button.dataset.passkey === "register") await register(button);
    else await signIn(button, button.dataset.passkey);
  } catch (e) {
    const cancelled = e && (e.name === "NotAllowedError" || e.name === "AbortError");
    say(button, cancelled ? "The passkey request was cancelled or timed out." : `${e.message || e}`);
    button.disabled = false;
  }
});

// Autofill: the browser offers passkeys in the username field.
async function offerInAutofill() {
  const input = document.querySelector('input[autocomplete~="webauthn"]');
  if (!input || input.dataset.passkeyOffered) return;
  input.dataset.passkeyOffered = "1";
  if (!window.PublicKeyCredential?.isConditionalMediationAvailable) return;
  if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
  conditional = new AbortController();
  try {
    const start = await api("/api/v1/auth/passkey/start");
    const credential = await navigator.credentials.get({
      publicKey: requestOptions(start.publicKey),
      mediation: "conditional",
      signal: conditional.signal,
    });
    const answer = await api("/api/v1/auth/passkey/finish", {
      ceremony: start.ceremony,
      credential: assertionJson(credential),
      remember: remember(),
      return_to: document.querySelector('[data-passkey="login"]')?.dataset.return,
    });
    location.assign(answer.redirect_to || "/dashboard");
  } catch (e) {
    if (e && e.name !== "AbortError") say(input, `${e.message || e}`);
  }
}

new MutationObserver(() => offerInAutofill()).observe(document.documentElement, { childList: true, subtree: true });
offerInAutofill();

// The recovery codes page: copy the codes.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-codes]");
  if (!button) return;
  const codes = [...document.querySelectorAll('[data-testid="recovery-codes"] code')].map((c) => c.textContent);
  try {
    await navigator.clipboard.writeText(codes.join("\n"));
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed: select them instead";
  }
});
