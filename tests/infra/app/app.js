// The example app: sign in, cookies through client.js, protected images, sign out.
const MEDIA = "https://media.example.com";
const SIGN_IN = "https://app.example.com/signin"; // stands in for Cognito's hosted UI
const { CookieClient } = await import(`${MEDIA}/cookie/client.js`);

const $ = (id) => document.getElementById(id);
const log = (line) => ($("log").textContent = `${new Date().toISOString().slice(11, 19)} ${line}\n` + $("log").textContent);
let token = null;
const margin = Number(new URLSearchParams(location.search).get("margin") ?? 60);
const media = new CookieClient({
  getToken: async () => token,
  margin,
  onChange: (s) => log(s.ok ? (s.signedOut ? "signed out" : `cookies for ${s.resource} by key ${s.key_pair_id} until ${s.expires_at}`) : `refused: ${s.error?.message}`),
});
media.watch(document);

function images(round) {
  const gallery = $("gallery");
  for (let i = 1; i <= 6; i++) {
    let img = gallery.children[i - 1];
    if (!img) gallery.append((img = Object.assign(document.createElement("img"), { alt: `image ${i}` })));
    img.src = `${MEDIA}/img/${i}.svg?round=${round}`;
  }
}

async function signIn(username, password) {
  const r = await fetch(SIGN_IN, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) });
  if (!r.ok) throw new Error(`sign-in answered ${r.status}`);
  token = (await r.json()).access_token;
  const cookies = await media.start();
  $("signin").hidden = true;
  $("signedin").hidden = false;
  images(0);
  return cookies;
}

async function signOut() {
  await media.signOut();
  token = null;
  $("signin").hidden = false;
  $("signedin").hidden = true;
}

$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  signIn(f.get("username"), f.get("password")).catch((err) => log(err.message));
});
$("signout").addEventListener("click", () => signOut().catch((err) => log(err.message)));

// For tests and the curious: the same actions the buttons take.
window.cfcookieApp = { signIn, signOut, images, client: media };
window.dispatchEvent(new Event("cfcookie-app-ready"));
