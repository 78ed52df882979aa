// cfcookie browser client: CloudFront signed cookies for a signed-in app, with no dependencies.
// The cookie endpoint serves this file at /cookie/client.js, so importing it from the media
// site also tells it where the endpoint is:
//
//   import { CookieClient } from "https://media.example.com/cookie/client.js";
//   const media = new CookieClient({ getToken: async () => session.accessToken });
//   await media.start();       // cookies now, and again before they expire
//   media.watch(document);     // a refused <img>/<video>/<audio> of the media site: refresh, retry once
//   await media.signOut();     // POST /cookie/remove: the cookies are gone
//
// Options: `getToken` (required; an async function giving the Cognito access or ID token),
// `tokenHeader` (default "x-cfcookie-token": CloudFront's origin access control overwrites
// Authorization on its way to the endpoint), `margin` (seconds before `expires` to refresh,
// default 60), `endpoint` (default: the /cookie next to this file), `onChange(state)`.

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export class CookieClient {
  constructor({ getToken, tokenHeader = "x-cfcookie-token", margin = 60, endpoint, onChange } = {}) {
    if (typeof getToken !== "function") throw new TypeError("CookieClient needs getToken: an async function giving the token");
    this.getToken = getToken;
    this.tokenHeader = tokenHeader;
    this.margin = margin;
    this.endpoint = (endpoint ?? new URL(".", import.meta.url).href).replace(/\/+$/, "");
    this.mediaOrigin = new URL(this.endpoint).origin;
    this.onChange = onChange ?? (() => {});
    this.expires = 0; // epoch seconds of the cookies we hold; 0: none
    this.timer = null;
    this.inflight = null;
    this.running = false;
    this.wake = () => {
      // Timers do not run in a sleeping tab or a suspended laptop: check on the way back.
      if (this.running && document.visibilityState !== "hidden" && this.due()) this.refresh().catch(() => {});
    };
  }

  /** Cookies now, then a refresh `margin` seconds before each expiry and on waking. */
  async start() {
    this.running = true;
    document.addEventListener("visibilitychange", this.wake);
    window.addEventListener("pageshow", this.wake);
    window.addEventListener("online", this.wake);
    return this.refresh();
  }

  /** Stops refreshing (the cookies stay until they expire; see signOut). */
  stop() {
    this.running = false;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.wake);
    window.removeEventListener("pageshow", this.wake);
    window.removeEventListener("online", this.wake);
  }

  due() {
    return Date.now() / 1000 >= this.expires - this.margin;
  }

  /** Asks the endpoint for fresh cookies; concurrent callers share one request. */
  refresh() {
    this.inflight ??= this.fetchCookies().finally(() => (this.inflight = null));
    return this.inflight;
  }

  async fetchCookies() {
    const token = await this.getToken();
    if (!token) throw new Error("cfcookie: no token (is the user signed in?)");
    const r = await fetch(this.endpoint, {
      credentials: "include",
      cache: "no-store",
      headers: { [this.tokenHeader]: token },
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new Error(`cfcookie: ${r.status} ${body.error ?? ""} ${body.message ?? ""}`.trim());
      e.status = r.status;
      e.code = body.error;
      this.onChange({ ok: false, error: e });
      throw e;
    }
    this.expires = body.expires;
    this.schedule();
    this.onChange({ ok: true, ...body });
    return body;
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.running) return;
    const wait = Math.max(1, this.expires - this.margin - Date.now() / 1000);
    // setTimeout holds at most 2^31-1 ms; a longer wait is re-armed by wake() or the next refresh.
    this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.min(wait * 1000, 2 ** 31 - 1));
  }

  /**
   * Retries a refused media element of the media site once, after a refresh. A refusal shows
   * only as an `error` event, so every error of such an element counts; the retry happens at
   * most once per element and URL.
   */
  watch(root = document) {
    const onError = (event) => {
      const el = event.target;
      if (!(el instanceof HTMLImageElement || el instanceof HTMLMediaElement)) return;
      const src = el.currentSrc || el.src;
      if (!src || new URL(src, location.href).origin !== this.mediaOrigin) return;
      if (el.dataset.cfcookieRetried === src) return;
      el.dataset.cfcookieRetried = src;
      this.refresh().then(
        () => {
          el.src = src;
          if (el instanceof HTMLMediaElement) el.load();
        },
        () => {},
      );
    };
    root.addEventListener("error", onError, true);
    return () => root.removeEventListener("error", onError, true);
  }

  /**
   * Signs out of the media: the endpoint expires the cookies. A POST to the endpoint through
   * CloudFront must carry its body's SHA-256 (Lambda function URLs behind origin access
   * control take no unsigned payload); the body is empty.
   */
  async signOut() {
    this.stop();
    this.expires = 0;
    const r = await fetch(`${this.endpoint}/remove`, {
      method: "POST",
      credentials: "include",
      cache: "no-store",
      headers: { "x-amz-content-sha256": EMPTY_SHA256 },
    });
    this.onChange({ ok: r.ok, signedOut: r.ok });
    if (!r.ok) throw new Error(`cfcookie: sign-out answered ${r.status}`);
  }
}
